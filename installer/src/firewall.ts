import type { Plan, Step } from './plan.ts'
import { type Component, DEFINITIONS, type FirewallPort } from './service-definition.ts'

/** Every TS-VMS rule is in this group; Uninstall removes the group. */
export const FIREWALL_GROUP = 'TS-VMS'

export type FirewallAction = 'Install' | 'Uninstall' | 'Status'
export const FIREWALL_ACTIONS: readonly FirewallAction[] = ['Install', 'Uninstall', 'Status']

export interface FirewallOptions {
  components: Component[]
  /** Also open the ports on the Public profile (default: Domain and Private only). */
  allowPublic: boolean
}

/** The rules for the components, inbound only (RTSP to the cameras is outbound: nothing for it). */
export function firewallRules(o: FirewallOptions): Array<FirewallPort & { profiles: string[] }> {
  const profiles = o.allowPublic ? ['Domain', 'Private', 'Public'] : ['Domain', 'Private']
  return o.components.flatMap((c) => DEFINITIONS[c].firewall.map((r) => ({ ...r, profiles })))
}

function newRule(r: FirewallPort & { profiles: string[] }): Step {
  return {
    kind: 'cmdlet',
    description: `Allow ${r.displayName} (${r.protocol} ${r.ports} inbound${r.remoteAddress ? `, ${r.remoteAddress} only` : ''})`,
    name: 'New-NetFirewallRule',
    params: {
      Name: `${FIREWALL_GROUP}-${r.key}`,
      DisplayName: r.displayName,
      Description: r.description,
      Group: FIREWALL_GROUP,
      Direction: 'Inbound',
      Action: 'Allow',
      Protocol: r.protocol,
      LocalPort: r.ports,
      Profile: r.profiles,
      ...(r.remoteAddress ? { RemoteAddress: r.remoteAddress } : {}),
      Enabled: 'True',
    },
  }
}

const removeGroup = (description: string): Step => ({
  kind: 'cmdlet',
  description,
  name: 'Remove-NetFirewallRule',
  params: { Group: FIREWALL_GROUP },
  // No rule in the group yet is not an error here.
  ignoreErrors: true,
})

export function firewallPlan(action: FirewallAction, o: FirewallOptions): Plan {
  const steps: Step[] = []
  switch (action) {
    case 'Install':
      // Idempotent: the group is rebuilt from the definition (a changed port leaves no stale rule).
      steps.push(removeGroup(`Remove the ${FIREWALL_GROUP} rules of an earlier install`))
      steps.push(...firewallRules(o).map(newRule))
      break
    case 'Uninstall':
      steps.push(removeGroup(`Remove every rule of the ${FIREWALL_GROUP} group`))
      break
    case 'Status':
      steps.push({
        kind: 'cmdlet',
        description: `List the ${FIREWALL_GROUP} rules`,
        name: 'Get-NetFirewallRule',
        params: { Group: FIREWALL_GROUP },
        ignoreErrors: true,
      })
      break
  }
  return { platform: 'windows', script: 'firewall-manager', action, steps }
}
