# Runs a plan printed by installer/src/cli.ts (JSON). Dot-sourced by service-manager.ps1 and
# firewall-manager.ps1. Every decision is in the TypeScript that printed the plan; this file only
# runs its steps, expanding %VARIABLES% in paths and arguments (never in written file contents).

function Get-TsVmsPlan {
    param([string] $Root, [string[]] $CliArgs)
    $cli = Join-Path $Root 'installer\src\cli.ts'
    Push-Location $Root
    try {
        $lines = & node --import tsx $cli @CliArgs
        if ($LASTEXITCODE -ne 0) { throw "installer/src/cli.ts failed (exit $LASTEXITCODE)" }
    } finally {
        Pop-Location
    }
    return (($lines -join "`n") | ConvertFrom-Json)
}

function Expand-TsVmsValue {
    param($Value)
    if ($Value -is [string]) { return [Environment]::ExpandEnvironmentVariables($Value) }
    if ($Value -is [array]) { return @($Value | ForEach-Object { Expand-TsVmsValue $_ }) }
    return $Value
}

function Invoke-TsVmsStep {
    param($Step)
    Write-Host "-> $($Step.description)"
    switch ($Step.kind) {
        'run' {
            $file = Expand-TsVmsValue $Step.file
            $stepArgs = @($Step.args | ForEach-Object { Expand-TsVmsValue $_ })
            if ($Step.okExitCodes -eq 'any') {
                try { & $file @stepArgs | Out-Host } catch { Write-Host "   (ignored: $($_.Exception.Message))" }
                return
            }
            & $file @stepArgs | Out-Host
            $ok = @(0)
            if ($null -ne $Step.okExitCodes) { $ok = @($Step.okExitCodes) }
            if ($ok -notcontains $LASTEXITCODE) { throw "$file exited with $LASTEXITCODE" }
        }
        'cmdlet' {
            $params = @{}
            foreach ($p in $Step.params.PSObject.Properties) { $params[$p.Name] = Expand-TsVmsValue $p.Value }
            if ($Step.ignoreErrors) {
                try { & $Step.name @params | Out-Host } catch { Write-Host "   (ignored: $($_.Exception.Message))" }
            } else {
                & $Step.name @params | Out-Host
            }
        }
        'check-exists' {
            $path = Expand-TsVmsValue $Step.path
            if (-not (Test-Path -LiteralPath $path)) { throw "not found: $path" }
        }
        'check-sha256' {
            $path = Expand-TsVmsValue $Step.path
            if (-not (Test-Path -LiteralPath $path)) { throw "not found: $path" }
            $hash = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant()
            if ($hash -ne $Step.sha256) { throw "SHA-256 of $path is $hash, expected $($Step.sha256)" }
        }
        'write-file' {
            $path = Expand-TsVmsValue $Step.path
            if ((-not $Step.overwrite) -and (Test-Path -LiteralPath $path)) {
                Write-Host "   (kept: $path)"
                return
            }
            [System.IO.File]::WriteAllText($path, $Step.content, (New-Object System.Text.UTF8Encoding $false))
        }
        default { throw "unknown step kind: $($Step.kind)" }
    }
}

function Invoke-TsVmsPlan {
    param($Plan)
    foreach ($step in $Plan.steps) { Invoke-TsVmsStep $step }
}
