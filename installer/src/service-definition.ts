/**
 * One definition per component (hub, edge agent), from which everything platform-specific is
 * generated: the WinSW XML and the Windows install plan (winsw.ts, windows-plan.ts), the firewall
 * rules (firewall.ts) and the systemd units (systemd.ts). A value changed here changes every output;
 * the golden tests in installer/test/golden show each output in full.
 */

export const COMPONENTS = ['hub', 'agent'] as const
export type Component = (typeof COMPONENTS)[number]

export interface FirewallPort {
  /** Short name, unique within the TS-VMS group (the rule's -Name is `TS-VMS-<key>`). */
  key: string
  displayName: string
  protocol: 'TCP' | 'UDP'
  /** A port or a `min-max` range. */
  ports: string
  /** LocalSubnet: only machines on the same subnet (unset: any address the profile allows). */
  remoteAddress?: 'LocalSubnet'
  description: string
}

export interface ServiceDefinition {
  component: Component
  /** Service name (Windows service id, systemd unit name without `.service`). */
  id: string
  displayName: string
  description: string
  /** Windows Event Log source (Application log), registered at install. */
  eventSource: string
  /** Entry point relative to the install directory, run as `node --import tsx <entry>`. */
  entry: string
  /** The variable that names the data directory, and its folder under the data root. */
  dataDirEnv: 'VMS_DATA_DIR' | 'VMS_AGENT_DATA_DIR'
  dataSubdir: string
  /** Environment set by the service manager on every platform. */
  env: Record<string, string>
  /** Environment set on Windows only (there is no environment file there). */
  windowsEnv: Record<string, string>
  /** Restart on failure: delays of the successive restarts; the failure count resets after `resetAfterSeconds`. */
  restart: { delaysSeconds: number[]; resetAfterSeconds: number }
  /** How long a stop may take before the process is killed (the agent closes its recordings' segments). */
  stopTimeoutSeconds: number
  /** systemd watchdog: the process feeds it (watchdog.ts) at a third of this interval. */
  watchdogSeconds: number
  /** Rotation of the service's JSON log (stdout/stderr) on Windows. */
  logRotation: { sizeThresholdKiB: number; keepFiles: number }
  /** Inbound firewall rules on Windows. */
  firewall: FirewallPort[]
  linux: {
    header: string[]
    unit: string[]
    /** Lines of [Service] between the environment and the hardening. */
    environmentFile: string
    /** Hardening lines of [Service], in order (comments allowed). */
    hardening: string[]
  }
}

/** The agent's WebRTC UDP ports on Windows: the service sets them and the firewall opens the same. */
export const AGENT_LIVE_PORT_RANGE = '50000-50199'
/** The agent's local setup wizard (VMS_AGENT_SETUP_PORT). */
export const AGENT_SETUP_PORT = 7080
/** The hub's HTTPS port (TLS terminated in front of VMS_HTTP_PORT) and its MQTT-TLS port. */
export const HUB_HTTPS_PORT = 443
export const HUB_MQTT_TLS_PORT = 8883

const RESTART = { delaysSeconds: [10, 30, 60], resetAfterSeconds: 24 * 3600 }
const LOG_ROTATION = { sizeThresholdKiB: 10 * 1024, keepFiles: 8 }

const COMMON_HARDENING_HEAD = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
]

export const HUB: ServiceDefinition = {
  component: 'hub',
  id: 'ts-vms-hub',
  displayName: 'TS-VMS hub',
  description: 'TS-VMS hub: web console, API and MQTT broker for the edge agents',
  eventSource: 'TS-VMS Hub',
  entry: 'hub/src/main.ts',
  dataDirEnv: 'VMS_DATA_DIR',
  dataSubdir: 'hub',
  env: { NODE_ENV: 'production' },
  windowsEnv: { VMS_MQTT_PORT: String(HUB_MQTT_TLS_PORT), VMS_MQTT_TLS: 'true' },
  restart: RESTART,
  stopTimeoutSeconds: 30,
  watchdogSeconds: 60,
  logRotation: LOG_ROTATION,
  firewall: [
    {
      key: 'hub-https',
      displayName: 'TS-VMS hub HTTPS',
      protocol: 'TCP',
      ports: String(HUB_HTTPS_PORT),
      description: 'Web console and API of the TS-VMS hub (HTTPS)',
    },
    {
      key: 'hub-mqtt-tls',
      displayName: 'TS-VMS hub MQTT-TLS',
      protocol: 'TCP',
      ports: String(HUB_MQTT_TLS_PORT),
      description: 'MQTT over TLS from the edge agents to the TS-VMS hub',
    },
  ],
  linux: {
    header: [
      '# systemd unit for the TS-VMS hub. Install the release under /opt/ts-vms, create the vms user,',
      '# put settings in /etc/ts-vms/hub.env (VMS_DATABASE_URL, VMS_MASTER_KEY, ...), then:',
      '#   systemctl enable --now ts-vms-hub',
    ],
    unit: [
      'Description=TS-VMS hub',
      'Documentation=file:///opt/ts-vms/README.md',
      'After=network-online.target postgresql.service redis-server.service',
      'Wants=network-online.target',
    ],
    environmentFile: 'hub.env',
    hardening: [
      '# Hardening: the hub needs its state directory and the network, nothing else.',
      ...COMMON_HARDENING_HEAD,
      'PrivateDevices=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectControlGroups=yes',
      'RestrictSUIDSGID=yes',
      'LockPersonality=yes',
      'RestrictNamespaces=yes',
      'SystemCallArchitectures=native',
      'CapabilityBoundingSet=',
      'AmbientCapabilities=',
    ],
  },
}

export const AGENT: ServiceDefinition = {
  component: 'agent',
  id: 'ts-vms-agent',
  displayName: 'TS-VMS edge agent',
  description: 'TS-VMS edge agent: records the site cameras and connects them to the hub',
  eventSource: 'TS-VMS Agent',
  entry: 'edge-agent/src/main.ts',
  dataDirEnv: 'VMS_AGENT_DATA_DIR',
  dataSubdir: 'agent',
  env: { NODE_ENV: 'production' },
  windowsEnv: {
    VMS_AGENT_LIVE_PORT_RANGE: AGENT_LIVE_PORT_RANGE,
    VMS_AGENT_SETUP_PORT: String(AGENT_SETUP_PORT),
  },
  restart: RESTART,
  // Each camera's open segment is finalized and fsynced on stop; give a loaded site time for it.
  stopTimeoutSeconds: 60,
  watchdogSeconds: 60,
  logRotation: LOG_ROTATION,
  firewall: [
    {
      key: 'agent-webrtc',
      displayName: 'TS-VMS agent WebRTC (LAN live view)',
      protocol: 'UDP',
      ports: AGENT_LIVE_PORT_RANGE,
      remoteAddress: 'LocalSubnet',
      description: 'Direct live view from the TS-VMS edge agent on the local network (WebRTC media)',
    },
    {
      key: 'agent-setup',
      displayName: 'TS-VMS agent setup wizard',
      protocol: 'TCP',
      ports: String(AGENT_SETUP_PORT),
      remoteAddress: 'LocalSubnet',
      description: 'Local setup wizard of the TS-VMS edge agent (same subnet only)',
    },
  ],
  linux: {
    header: [
      '# systemd unit for a TS-VMS edge agent. Install the release under /opt/ts-vms, create the vms',
      '# user, enroll once as that user:',
      '#   sudo -u vms VMS_AGENT_DATA_DIR=/var/lib/ts-vms/agent npm run agent -- enroll --hub URL --code CODE',
      '# then: systemctl enable --now ts-vms-agent',
      '# The agent opens outbound connections only (MQTT to the hub); no firewall port needs opening.',
    ],
    unit: ['Description=TS-VMS edge agent', 'After=network-online.target', 'Wants=network-online.target'],
    environmentFile: 'agent.env',
    hardening: [
      ...COMMON_HARDENING_HEAD,
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectControlGroups=yes',
      'RestrictSUIDSGID=yes',
      'LockPersonality=yes',
      'SystemCallArchitectures=native',
      'CapabilityBoundingSet=',
      'AmbientCapabilities=',
    ],
  },
}

export const DEFINITIONS: Record<Component, ServiceDefinition> = { hub: HUB, agent: AGENT }

export function definitionOf(component: Component): ServiceDefinition {
  return DEFINITIONS[component]
}

export function isComponent(v: string): v is Component {
  return (COMPONENTS as readonly string[]).includes(v)
}
