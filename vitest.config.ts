import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      'shared',
      'hub',
      'edge-agent',
      // Service definitions, WinSW XML, systemd units, install plans, the .ps1 scripts and the
      // Linux install scripts.
      { test: { name: 'installer', include: ['installer/**/*.test.ts'], testTimeout: 60_000 } },
      // Dev tools with tests of their own (the camera simulator).
      {
        test: {
          name: 'scripts',
          include: ['scripts/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
    passWithNoTests: true,
  },
})
