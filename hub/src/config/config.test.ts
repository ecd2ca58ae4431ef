import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.ts'

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({})
    expect(config.VMS_HTTP_HOST).toBe('127.0.0.1')
    expect(config.VMS_HTTP_PORT).toBe(8080)
    expect(config.VMS_DATA_DIR).toBe(path.resolve('./data/hub'))
    expect(config.VMS_DATABASE_URL).toBeUndefined()
    expect(config.VMS_ARGON2_MEMORY_KIB).toBeGreaterThanOrEqual(19456)
    expect(config.VMS_ACCESS_TOKEN_TTL_SECONDS).toBe(900)
  })

  it('names the bad key in its error', () => {
    expect(() => loadConfig({ VMS_HTTP_PORT: 'eighty' })).toThrow(/VMS_HTTP_PORT/)
    expect(() => loadConfig({ VMS_MASTER_KEY: 'c2hvcnQ=' })).toThrow(/VMS_MASTER_KEY: must be base64/)
    expect(() => loadConfig({ VMS_ARGON2_MEMORY_KIB: '1024' })).toThrow(/VMS_ARGON2_MEMORY_KIB: .*OWASP/)
    expect(() => loadConfig({ VMS_DATABASE_URL: 'mysql://x' })).toThrow(/VMS_DATABASE_URL/)
  })

  it('reads live-view settings: ICE servers as JSON, addresses, a port range', () => {
    expect(loadConfig({}).VMS_ICE_SERVERS).toEqual([])
    const config = loadConfig({
      VMS_ICE_SERVERS:
        '[{"urls":"stun:stun.example.net:3478"},{"urls":"turn:turn.example.net:3478","username":"u","credential":"c"}]',
      VMS_LIVE_HOST_ADDRESSES: '203.0.113.7, 127.0.0.1',
      VMS_LIVE_PORT_RANGE: '50000-50100',
    })
    expect(config.VMS_ICE_SERVERS).toHaveLength(2)
    expect(config.VMS_LIVE_HOST_ADDRESSES).toEqual(['203.0.113.7', '127.0.0.1'])
    expect(config.VMS_LIVE_PORT_RANGE).toEqual([50000, 50100])
    expect(() => loadConfig({ VMS_ICE_SERVERS: 'stun:x' })).toThrow(/VMS_ICE_SERVERS: must be a JSON array/)
    expect(() => loadConfig({ VMS_ICE_SERVERS: '[{"urls":"http://x"}]' })).toThrow(/VMS_ICE_SERVERS/)
    expect(() => loadConfig({ VMS_LIVE_HOST_ADDRESSES: 'example.com' })).toThrow(/VMS_LIVE_HOST_ADDRESSES/)
    expect(() => loadConfig({ VMS_LIVE_PORT_RANGE: '60000-50000' })).toThrow(/VMS_LIVE_PORT_RANGE/)
  })

  it('reads a YAML or JSON file named by VMS_CONFIG, with the environment winning', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-config-'))
    const yamlFile = path.join(dir, 'hub.yaml')
    writeFileSync(yamlFile, 'VMS_HTTP_PORT: 9000\nVMS_HTTP_HOST: 0.0.0.0\n')
    const fromYaml = loadConfig({ VMS_CONFIG: yamlFile, VMS_HTTP_HOST: '127.0.0.2' })
    expect(fromYaml.VMS_HTTP_PORT).toBe(9000)
    expect(fromYaml.VMS_HTTP_HOST).toBe('127.0.0.2')

    const jsonFile = path.join(dir, 'hub.json')
    writeFileSync(jsonFile, JSON.stringify({ VMS_LOG_LEVEL: 'warn' }))
    expect(loadConfig({ VMS_CONFIG: jsonFile }).VMS_LOG_LEVEL).toBe('warn')
  })

  it('rejects unknown keys and malformed files with a clear message', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vms-config-'))
    const file = path.join(dir, 'hub.yaml')
    writeFileSync(file, 'VMS_HTTP_PROT: 9000\n')
    expect(() => loadConfig({ VMS_CONFIG: file })).toThrow(/VMS_HTTP_PROT: unknown setting/)
    writeFileSync(file, '- just\n- a list\n')
    expect(() => loadConfig({ VMS_CONFIG: file })).toThrow(ConfigError)
    expect(() => loadConfig({ VMS_CONFIG: path.join(dir, 'missing.yaml') })).toThrow(/cannot read/)
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ VMS_DATABASE_URL: '' }).VMS_DATABASE_URL).toBeUndefined()
  })
})
