import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: ['shared', 'hub', 'edge-agent'],
  },
})
