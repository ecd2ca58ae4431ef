#Requires -RunAsAdministrator
<#
.SYNOPSIS
  Installs and controls the TS-VMS Windows services (WinSW) of the hub and the edge agent.
.DESCRIPTION
  The steps come from `node --import tsx installer/src/cli.ts plan ...` (JSON), generated from the
  service definition in installer/src/service-definition.ts; this script only runs them.
  See installer/README.md, section Windows.
.EXAMPLE
  .\installer\windows\service-manager.ps1 -Action Install -Component Agent -WinSWPath C:\Downloads\WinSW-x64.exe
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('Install', 'Uninstall', 'Start', 'Stop', 'Restart', 'Status')]
    [string] $Action,

    [Parameter(Mandatory = $true)]
    [ValidateSet('Hub', 'Agent', 'All')]
    [string] $Component,

    # Install only: WinSW v2.12.0 WinSW-x64.exe, checked against the pinned SHA-256.
    [string] $WinSWPath
)

$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'plan-runner.ps1')

$root = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
$cliArgs = @('plan', '--platform', 'windows', '--action', $Action, '--component', $Component, '--install-dir', $root)
if ($WinSWPath) { $cliArgs += @('--winsw', (Resolve-Path $WinSWPath).Path) }

$plan = Get-TsVmsPlan -Root $root -CliArgs $cliArgs
Invoke-TsVmsPlan $plan
Write-Host "${Action} ${Component}: done"
