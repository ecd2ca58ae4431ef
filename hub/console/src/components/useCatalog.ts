import { useCallback, useEffect, useRef, useState } from 'react'
import { api, describeError } from '../api/client.ts'
import type { Camera, Page, Site } from '../api/types.ts'

export interface Catalog {
  cameras: Camera[]
  sites: Site[]
  siteName: (siteId: string) => string
  loading: boolean
  error: string | undefined
  reload: () => void
}

/** Fetches every page of a list endpoint (the hub caps a page at 500). */
export async function fetchAll<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  const out: T[] = []
  for (let offset = 0; ; offset += 500) {
    const page = await api.get<Page<T>>(path, { limit: 500, offset }, signal)
    out.push(...page.items)
    if (page.items.length < 500 || out.length >= page.total) return out
  }
}

/** The cameras and sites the user may see, sorted by site then name. */
export function useCatalog(): Catalog {
  const [cameras, setCameras] = useState<Camera[]>([])
  const [sites, setSites] = useState<Site[]>([])
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<string>()
  const [attempt, setAttempt] = useState(0)
  const loadedOnce = useRef(false)
  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the retry trigger
  useEffect(() => {
    const abort = new AbortController()
    // A reload after a change keeps what is on screen (live tiles stay connected) until it lands.
    if (!loadedOnce.current) setLoading(true)
    Promise.all([
      fetchAll<Camera>('/api/v1/cameras', abort.signal),
      fetchAll<Site>('/api/v1/sites', abort.signal),
    ]).then(
      ([cams, siteList]) => {
        const order = new Map(siteList.map((s, i) => [s.id, i]))
        cams.sort(
          (a, b) =>
            (order.get(a.siteId) ?? 1e9) - (order.get(b.siteId) ?? 1e9) || a.name.localeCompare(b.name),
        )
        loadedOnce.current = true
        setCameras(cams)
        setSites(siteList)
        setError(undefined)
        setLoading(false)
      },
      (err: unknown) => {
        if (abort.signal.aborted) return
        setError(describeError(err))
        setLoading(false)
      },
    )
    return () => abort.abort()
  }, [attempt])
  const siteName = useCallback(
    (siteId: string) => sites.find((s) => s.id === siteId)?.name ?? 'unknown site',
    [sites],
  )
  return { cameras, sites, siteName, loading, error, reload: () => setAttempt((n) => n + 1) }
}
