import { LivePlayer, type PlayerStats } from '../../console/src/pages/live/live-player.ts'

/**
 * The hub's minimal live page: sign in, pick a camera, watch it. Tokens stay in memory (never in
 * storage); the access token is refreshed before it expires and the live session renewed with it.
 */
interface Tokens {
  accessToken: string
  refreshToken: string
  expiresIn: number
}

interface CameraItem {
  id: string
  name: string
  status?: { streams?: { state?: string }[] } | null
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

let tokens: Tokens | undefined
let refreshTimer: number | undefined

const player = new LivePlayer($('video'), {
  token: () => tokens?.accessToken ?? '',
  onState: (state, detail) => {
    $('state').textContent = detail ? `${state}: ${detail}` : state
    document.body.dataset.state = state
  },
  onStats: (s: PlayerStats) => {
    $('stats').textContent = [
      `first frame ${s.firstFrameMs ?? '-'} ms (ICE gathering ${s.gatherMs ?? '-'} ms, answer ${s.answerMs ?? '-'} ms)`,
      `${s.width}x${s.height}`,
      `${s.framesDecoded} frames decoded, ${s.framesDropped} dropped`,
      `${s.bitrateKbps} kbit/s`,
      `jitter buffer ${s.jitterBufferMs ?? '-'} ms`,
      `RTT ${s.rttMs ?? '-'} ms`,
      `${s.packetsLost} packets lost`,
    ].join(' · ')
  },
})

async function post<T>(path: string, body: unknown): Promise<{ ok: boolean; body: T }> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { ok: res.ok, body: (await res.json().catch(() => ({}))) as T }
}

function scheduleRefresh(): void {
  if (refreshTimer !== undefined) window.clearTimeout(refreshTimer)
  if (!tokens) return
  refreshTimer = window.setTimeout(
    async () => {
      if (!tokens) return
      const res = await post<Tokens>('/api/v1/auth/refresh', { refreshToken: tokens.refreshToken })
      if (!res.ok) {
        $('state').textContent = 'signed out: sign in again'
        return
      }
      tokens = res.body
      scheduleRefresh()
      await player.renew()
    },
    Math.max(5, tokens.expiresIn * 0.8) * 1000,
  )
}

async function loadCameras(): Promise<void> {
  const res = await fetch('/api/v1/cameras?limit=500', {
    headers: { authorization: `Bearer ${tokens?.accessToken ?? ''}` },
  })
  const select = $<HTMLSelectElement>('camera')
  select.replaceChildren()
  if (!res.ok) return
  const { items } = (await res.json()) as { items: CameraItem[] }
  for (const c of items) {
    const option = document.createElement('option')
    option.value = c.id
    const state = c.status?.streams?.[0]?.state
    option.textContent = state ? `${c.name} (${state})` : c.name
    select.append(option)
  }
}

$<HTMLFormElement>('login').addEventListener('submit', async (e) => {
  e.preventDefault()
  const form = new FormData(e.target as HTMLFormElement)
  const res = await post<Tokens & { error?: { message: string } }>('/api/v1/auth/login', {
    tenant: form.get('tenant'),
    username: form.get('username'),
    password: form.get('password'),
  })
  if (!res.ok) {
    $('login-error').textContent = res.body.error?.message ?? 'sign-in failed'
    return
  }
  tokens = res.body
  ;($('password') as HTMLInputElement).value = ''
  $('login-error').textContent = ''
  document.body.dataset.signedIn = 'true'
  scheduleRefresh()
  await loadCameras()
})

$<HTMLFormElement>('viewer').addEventListener('submit', async (e) => {
  e.preventDefault()
  const id = $<HTMLSelectElement>('camera').value
  if (!id) return
  player.setMode($<HTMLSelectElement>('mode').value === 'direct' ? 'direct' : 'relay')
  $('stats').textContent = ''
  await player.play(id)
})

$('stop').addEventListener('click', () => void player.stop())
window.addEventListener('pagehide', () => void player.stop())
