import { type FormEvent, useCallback, useEffect, useMemo, useState } from 'react'
import { useSearchParams } from 'react-router'
import { api, describeError } from '../../api/client.ts'
import type { Layout, SavedView, StreamRole } from '../../api/types.ts'
import { ErrorNotice } from '../../components/ErrorNotice.tsx'
import { useCatalog } from '../../components/useCatalog.ts'
import { field, isAdminChange, useReloadOnUpdates } from '../../components/useLiveUpdates.ts'
import { usePageTitle } from '../../components/usePageTitle.ts'
import { can, useMe } from '../../session/session.tsx'
import { LiveTile } from './LiveTile.tsx'
import { autoTiles, fitTiles, isLayout, LAYOUTS, tilesOf } from './layouts.ts'
import { liveSessionEnded } from './live-player.ts'
import { PtzPad } from './PtzPad.tsx'

/**
 * Live: a grid of cameras from every site the user may see, grouped by site, in layouts of 1 to
 * 16 tiles, with named views saved on the hub. A tile opens the single view on double-click or
 * Enter. The URL holds the layout, page, view and single camera, so a reload keeps the screen.
 */
export function LivePage() {
  const me = useMe()
  usePageTitle('Live')
  const catalog = useCatalog()
  // Cameras added, renamed or removed by an administrator appear without a reload.
  useReloadOnUpdates(catalog.reload, isAdminChange, (m) => {
    const sessionId = field(m, 'sessionId')
    if (m.type === 'live' && typeof sessionId === 'string')
      liveSessionEnded(sessionId, String(field(m, 'reason') ?? 'the session ended'))
  })
  const [params, setParams] = useSearchParams()
  const layout: Layout = isLayout(params.get('layout')) ? (params.get('layout') as Layout) : '2x2'
  const page = Math.max(0, Number(params.get('page') ?? 0) || 0)
  const viewId = params.get('view')
  const single = params.get('camera')
  // The single view shows the main stream unless switched; grid tiles ask for sub streams (a 1x1
  // grid is as large as the single view: main).
  const singleStream: StreamRole = params.get('stream') === 'sub' ? 'sub' : 'main'
  const gridStream: StreamRole = layout === '1' ? 'main' : 'sub'
  const [views, setViews] = useState<SavedView[]>([])
  const [viewsError, setViewsError] = useState<string>()
  const [custom, setCustom] = useState<(string | null)[] | undefined>()
  const [viewName, setViewName] = useState('')
  const [status, setStatus] = useState<string>()

  const set = useCallback(
    (changes: Record<string, string | null>) => {
      const next = new URLSearchParams(params)
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) next.delete(k)
        else next.set(k, v)
      }
      setParams(next)
    },
    [params, setParams],
  )

  const loadViews = useCallback(async () => {
    try {
      const res = await api.get<{ views: SavedView[] }>('/api/v1/views')
      setViews(res.views)
      setViewsError(undefined)
    } catch (err) {
      setViewsError(describeError(err))
    }
  }, [])
  useEffect(() => {
    void loadViews()
  }, [loadViews])

  const view = views.find((v) => v.id === viewId)
  const byId = useMemo(() => new Map(catalog.cameras.map((c) => [c.id, c])), [catalog.cameras])
  const allIds = useMemo(() => catalog.cameras.map((c) => c.id), [catalog.cameras])
  const pages = Math.max(1, Math.ceil(allIds.length / tilesOf(layout)))
  const tiles = custom
    ? fitTiles(custom, layout)
    : view
      ? fitTiles(view.cameraIds, view.layout === layout ? layout : layout)
      : autoTiles(allIds, layout, Math.min(page, pages - 1))

  // Choosing a view takes its layout; editing tiles starts from what is on screen.
  const chooseView = (id: string) => {
    setCustom(undefined)
    const v = views.find((x) => x.id === id)
    set({ view: id || null, layout: v ? v.layout : layout, page: null })
  }
  const placeCamera = (cameraId: string) => {
    const current = [...tiles]
    if (current.includes(cameraId)) return
    const free = current.indexOf(null)
    current[free === -1 ? current.length - 1 : free] = cameraId
    setCustom(current)
  }

  const saveView = async (e: FormEvent) => {
    e.preventDefault()
    setStatus(undefined)
    try {
      const body = { name: viewName.trim(), layout, cameraIds: tiles }
      const saved =
        view && view.name === body.name
          ? await api.patch<SavedView>(`/api/v1/views/${view.id}`, body)
          : await api.post<SavedView>('/api/v1/views', body)
      await loadViews()
      setCustom(undefined)
      set({ view: saved.id, layout: saved.layout, page: null })
      setStatus(`Saved view “${saved.name}”.`)
    } catch (err) {
      setStatus(undefined)
      setViewsError(describeError(err))
    }
  }
  const deleteView = async () => {
    if (!view) return
    try {
      await api.delete(`/api/v1/views/${view.id}`)
      setStatus(`Deleted view “${view.name}”.`)
      set({ view: null })
      await loadViews()
    } catch (err) {
      setViewsError(describeError(err))
    }
  }

  if (single) {
    const camera = byId.get(single)
    return (
      <section className="page live-single">
        <div className="toolbar">
          <h1>{camera?.name ?? 'Camera'}</h1>
          <label>
            Stream
            <select
              aria-label="Stream"
              value={singleStream}
              onChange={(e) => set({ stream: e.target.value === 'sub' ? 'sub' : null })}
            >
              <option value="main">Main stream</option>
              <option value="sub">Sub stream</option>
            </select>
          </label>
          {camera?.analyticsConfig?.enabled && (
            <label className="checkbox">
              <input
                type="checkbox"
                checked={params.get('objects') === '1'}
                onChange={(e) => set({ objects: e.target.checked ? '1' : null })}
              />
              Show objects
            </label>
          )}
          <button type="button" onClick={() => set({ camera: null, stream: null, objects: null })}>
            Back to the grid
          </button>
          <a className="button" href={`/playback/${encodeURIComponent(single)}`}>
            Playback
          </a>
        </div>
        <div className="live-single-body">
          {catalog.loading ? (
            <p aria-busy="true">Loading…</p>
          ) : (
            <LiveTile
              key={single}
              cameraId={single}
              camera={camera}
              siteName={camera ? catalog.siteName(camera.siteId) : ''}
              single
              stream={singleStream}
              overlay={params.get('objects') === '1' && camera?.analyticsConfig?.enabled === true}
            />
          )}
          {camera?.device && camera.device.protocol !== 'rtsp' && can(me, 'camera.ptz') && (
            <PtzPad key={camera.id} cameraId={camera.id} cameraName={camera.name} />
          )}
        </div>
      </section>
    )
  }

  return (
    <section className="page live">
      <div className="toolbar">
        <h1>Live</h1>
        <label>
          Layout
          <select
            value={layout}
            onChange={(e) => {
              set({ layout: e.target.value, page: null })
            }}
          >
            {LAYOUTS.map((l) => (
              <option key={l.value} value={l.value}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Saved view
          <select value={view?.id ?? ''} onChange={(e) => chooseView(e.target.value)}>
            <option value="">All cameras</option>
            {views.map((v) => (
              <option key={v.id} value={v.id}>
                {v.name}
              </option>
            ))}
          </select>
        </label>
        {!view && !custom && pages > 1 && (
          <span className="pager">
            <button type="button" disabled={page <= 0} onClick={() => set({ page: String(page - 1) })}>
              Previous page
            </button>
            <span>
              Page {Math.min(page, pages - 1) + 1} of {pages}
            </span>
            <button
              type="button"
              disabled={page >= pages - 1}
              onClick={() => set({ page: String(page + 1) })}
            >
              Next page
            </button>
          </span>
        )}
        <form className="inline-form" onSubmit={(e) => void saveView(e)}>
          <label>
            View name
            <input value={viewName} maxLength={100} required onChange={(e) => setViewName(e.target.value)} />
          </label>
          <button type="submit">Save view</button>
        </form>
        {view && (
          <button type="button" onClick={() => void deleteView()}>
            Delete view
          </button>
        )}
      </div>
      <ErrorNotice message={catalog.error} onRetry={catalog.reload} />
      <ErrorNotice message={viewsError} />
      {status && (
        <p role="status" className="notice">
          {status}
        </p>
      )}
      <div className="live-body">
        <aside className="camera-list" aria-label="Cameras by site">
          {catalog.sites.map((site) => {
            const cams = catalog.cameras.filter((c) => c.siteId === site.id)
            if (cams.length === 0) return null
            return (
              <section key={site.id}>
                <h2>{site.name}</h2>
                <ul>
                  {cams.map((c) => (
                    <li key={c.id}>
                      <button type="button" className="link" onClick={() => placeCamera(c.id)}>
                        {c.name}
                      </button>
                      <button
                        type="button"
                        className="ghost small"
                        aria-label={`Open ${c.name} alone`}
                        onClick={() => set({ camera: c.id })}
                      >
                        Open
                      </button>
                    </li>
                  ))}
                </ul>
              </section>
            )
          })}
          {!catalog.loading && catalog.cameras.length === 0 && <p>No cameras are visible to you yet.</p>}
        </aside>
        {catalog.loading ? (
          <p aria-busy="true">Loading cameras…</p>
        ) : (
          <div className={`grid cols-${LAYOUTS.find((l) => l.value === layout)?.columns ?? 2}`}>
            {tiles.map((id, i) => {
              const cam = id ? byId.get(id) : undefined
              return (
                <LiveTile
                  // biome-ignore lint/suspicious/noArrayIndexKey: a tile is its position in the grid
                  key={`${i}:${id ?? ''}`}
                  cameraId={id}
                  camera={cam}
                  siteName={cam ? catalog.siteName(cam.siteId) : ''}
                  onOpen={id ? () => set({ camera: id }) : undefined}
                  stream={gridStream}
                />
              )
            })}
          </div>
        )}
      </div>
    </section>
  )
}
