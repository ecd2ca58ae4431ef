#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Opens (Install), removes (Uninstall) or lists (Status) the TS-VMS inbound firewall rules.
.DESCRIPTION
  All rules are in the group "TS-VMS" (New-NetFirewallRule -Group "TS-VMS"); Uninstall removes the
  group. The rules come from `node --import tsx installer/src/cli.ts firewall-plan ...` (JSON):
  the hub's HTTPS and MQTT-TLS ports, the agent's WebRTC UDP range and setup wizard (LocalSubnet
  only). Domain and Private profiles; Public only with -AllowPublic. Nothing for RTSP (outbound).
.EXAMPLE
  .\installer\windows\firewall-manager.ps1 -Action Install -Component Agent
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('Install', 'Uninstall', 'Status')]
    [string] $Action,

    [ValidateSet('Hub', 'Agent', 'All')]
    [string] $Component = 'All',

    [switch] $AllowPublic
)

$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'plan-runner.ps1')

$root = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
$cliArgs = @('firewall-plan', '--platform', 'windows', '--action', $Action, '--component', $Component)
if ($AllowPublic) { $cliArgs += '--allow-public' }

$plan = Get-TsVmsPlan -Root $root -CliArgs $cliArgs
Invoke-TsVmsPlan $plan
Write-Host "firewall ${Action}: done"
