import { type FormEvent, useId, useState } from 'react'
import type { AnalyticsModel, ModelFormat } from '../../../api/analytics-types.ts'
import { api, describeError, withQuery } from '../../../api/client.ts'
import type { Camera } from '../../../api/types.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'
import { formatBytes, formatTime } from '../../../components/format.ts'
import { fetchAll } from '../../../components/useCatalog.ts'
import { usePageTitle } from '../../../components/usePageTitle.ts'
import { can, useMe } from '../../../session/session.tsx'
import { ConfirmButton } from '../common/ConfirmButton.tsx'
import { Feedback, type Outcome } from '../common/Feedback.tsx'
import { SelectField } from '../common/SelectField.tsx'
import { useTenants } from '../common/tenants.ts'
import { useLoaded } from '../common/useLoaded.ts'
import '../common/admin.css'
import './models.css'

/** The hub's limit (hub/src/http/routes/models.ts): checked here too, before sending 64 MiB for nothing. */
const MAX_MODEL_BYTES = 64 * 1024 * 1024
const MAX_MODEL_TEXT = '64 MiB'
/** What an id may be (the hub's rule): letters, digits, ".", "_" and "-", 1..64, not "default". */
const ID_PATTERN = '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}'
const LABELS_SHOWN = 5

interface ModelsData {
  models: AnalyticsModel[]
  /** The tenant's cameras by the model they name; undefined when the cameras could not be listed. */
  usedBy: Map<string, string[]> | undefined
}

/**
 * Analytics models (issue 13): the tenant's ONNX detection models with the cameras naming each
 * (`analytics.model`), uploading one (the hub loads it and checks its shapes against the format
 * and labels, refusing a bad file with the reason) and deleting one (refused by the hub while a
 * camera names it). `default` is built into every agent. System administrators choose the tenant.
 */
export function ModelsPage() {
  usePageTitle('Models')
  const me = useMe()
  const tenants = useTenants()
  const [tenantId, setTenantId] = useState(me.tenantId)
  return (
    <section className="page adm-page models-page" aria-labelledby="models-title">
      <div className="toolbar">
        <h1 id="models-title">Models</h1>
        {tenants.length > 1 && (
          <SelectField label="Tenant" value={tenantId} onChange={(e) => setTenantId(e.target.value)}>
            {tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.slug} ({t.name})
              </option>
            ))}
          </SelectField>
        )}
      </div>
      <TenantModels key={tenantId} tenantId={tenantId} own={tenantId === me.tenantId} />
    </section>
  )
}

function TenantModels({ tenantId, own }: { tenantId: string; own: boolean }) {
  const me = useMe()
  const manage = can(me, 'camera.manage')
  const query = own ? undefined : { tenantId }
  const loaded = useLoaded<ModelsData>(async (signal) => {
    const [models, cameras] = await Promise.all([
      api.get<{ items: AnalyticsModel[] }>('/api/v1/models', query, signal),
      // Only for the "Used by" column: a user who may not list cameras still sees the models.
      fetchAll<Camera>('/api/v1/cameras', signal).catch(() => undefined),
    ])
    let usedBy: Map<string, string[]> | undefined
    if (cameras) {
      usedBy = new Map()
      for (const c of cameras) {
        const model = c.analyticsConfig?.model
        if (c.tenantId !== tenantId || !model) continue
        usedBy.set(model, [...(usedBy.get(model) ?? []), c.name])
      }
      for (const names of usedBy.values()) names.sort((a, b) => a.localeCompare(b))
    }
    return { models: models.items, usedBy }
  })
  const [outcome, setOutcome] = useState<Outcome>()

  const remove = async (m: AnalyticsModel) => {
    setOutcome(undefined)
    try {
      await api.delete(withQuery(`/api/v1/models/${encodeURIComponent(m.id)}`, query))
      setOutcome({ ok: true, text: `Deleted model ${m.id}.` })
    } catch (err) {
      setOutcome({ ok: false, text: `Could not delete model ${m.id}: ${describeError(err)}` })
    }
    loaded.reload()
  }

  const data = loaded.data
  const uploaded = data?.models.filter((m) => !m.builtIn).length ?? 0
  return (
    <>
      <p className="muted" aria-live="polite">
        {data === undefined
          ? 'Loading models…'
          : `The built-in model and ${uploaded} uploaded model${uploaded === 1 ? '' : 's'}`}
      </p>
      <ErrorNotice message={loaded.error} onRetry={loaded.reload} />
      <Feedback outcome={outcome} />
      <div className="table-wrap">
        <table aria-label="Models">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Format</th>
              <th scope="col">Labels</th>
              <th scope="col" className="adm-wide-only">
                Size
              </th>
              <th scope="col" className="adm-wide-only">
                SHA-256
              </th>
              <th scope="col" className="adm-wide-only">
                Uploaded
              </th>
              <th scope="col">Used by</th>
              {manage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {data?.models.map((m) => {
              const users = data.usedBy?.get(m.id)
              return (
                <tr key={m.id}>
                  <th scope="row" className="mono">
                    {m.id} {m.builtIn && <span className="badge badge-ok">built in</span>}
                  </th>
                  <td>{m.format}</td>
                  <td>
                    <LabelSummary labels={m.labels} />
                  </td>
                  <td className="adm-wide-only">
                    {m.builtIn ? <span className="muted">on each agent</span> : formatBytes(m.bytes)}
                  </td>
                  <td className="adm-wide-only mono">
                    {m.sha256 ? (
                      <abbr title={m.sha256}>{m.sha256.slice(0, 12)}…</abbr>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="adm-wide-only">
                    {m.createdAt ? formatTime(m.createdAt) : <span className="muted">—</span>}
                  </td>
                  <td>
                    {data.usedBy === undefined ? (
                      <span className="muted">unknown</span>
                    ) : users?.length ? (
                      users.join(', ')
                    ) : (
                      <span className="muted">no camera</span>
                    )}
                  </td>
                  {manage && (
                    <td>
                      {!m.builtIn && (
                        <ConfirmButton
                          label="Delete"
                          accessibleName={`Delete model ${m.id}`}
                          title={`Delete model ${m.id}?`}
                          message={
                            users?.length ? (
                              <p>
                                {users.length === 1 ? 'Camera' : 'Cameras'} {users.join(', ')}{' '}
                                {users.length === 1 ? 'uses' : 'use'} this model: the hub refuses to delete it
                                until they name another model.
                              </p>
                            ) : (
                              <p>
                                The model's file is removed from the hub; agents that installed it remove it
                                too. An upload under the same id makes it again.
                              </p>
                            )
                          }
                          confirmLabel="Delete model"
                          onConfirm={() => remove(m)}
                        />
                      )}
                    </td>
                  )}
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {manage ? (
        <UploadForm
          query={query}
          onUploaded={(m) => {
            setOutcome({
              ok: true,
              text: `Uploaded model ${m.id} (${m.format}, ${m.labels.length} label${m.labels.length === 1 ? '' : 's'}, ${formatBytes(m.bytes)}). Cameras can now name it in their analytics.`,
            })
            loaded.reload()
          }}
        />
      ) : (
        <p className="muted">Uploading and deleting models needs the camera.manage permission.</p>
      )}
    </>
  )
}

function LabelSummary({ labels }: { labels: string[] }) {
  const shown = labels.slice(0, LABELS_SHOWN).join(', ')
  const more = labels.length - LABELS_SHOWN
  return (
    <>
      <strong>{labels.length}</strong>
      <span className="muted models-label-names">
        : {shown}
        {more > 0 && `, … (${more} more)`}
      </span>
    </>
  )
}

/** "yolox-s (1).onnx" → "yolox-s-1": a starting point for the id, which the user may change. */
function idFromFileName(name: string): string {
  return name
    .replace(/\.onnx$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|-+$/g, '')
    .slice(0, 64)
}

function UploadForm({
  query,
  onUploaded,
}: {
  query: { tenantId: string } | undefined
  onUploaded: (m: AnalyticsModel) => void
}) {
  const headingId = useId()
  const labelsHelp = useId()
  const [id, setId] = useState('')
  const [format, setFormat] = useState<ModelFormat>('yolox')
  const [labels, setLabels] = useState('')
  const [formKey, setFormKey] = useState(0)
  const [busy, setBusy] = useState<string>()
  const [error, setError] = useState<string>()

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    setError(undefined)
    const file = new FormData(e.currentTarget).get('file')
    if (!(file instanceof File) || file.size === 0) {
      setError('Choose the model file (.onnx) first.')
      return
    }
    if (file.size > MAX_MODEL_BYTES) {
      setError(`This file is ${formatBytes(file.size)}: a model is at most ${MAX_MODEL_TEXT}.`)
      return
    }
    const names = labels
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean)
    const withComma = names.find((l) => l.includes(','))
    if (withComma !== undefined) {
      setError(`A label cannot contain a comma: "${withComma}".`)
      return
    }
    setBusy(`Sending ${formatBytes(file.size)}; the hub then loads the model and checks its shapes…`)
    try {
      const created = await api.sendBytes<AnalyticsModel>(
        'POST',
        '/api/v1/models',
        file,
        'application/octet-stream',
        { id: id.trim(), format, ...(names.length ? { labels: names.join(',') } : {}), ...query },
      )
      setId('')
      setFormat('yolox')
      setLabels('')
      setFormKey((k) => k + 1)
      onUploaded(created)
    } catch (err) {
      setError(`The hub refused the model: ${describeError(err)}`)
    } finally {
      setBusy(undefined)
    }
  }

  return (
    <form
      key={formKey}
      className="stack-form adm-form"
      aria-labelledby={headingId}
      aria-busy={busy !== undefined}
      onSubmit={(e) => void submit(e)}
    >
      <h2 id={headingId}>Upload a model</h2>
      <p className="muted small-text">
        An ONNX detection model exported as YOLOX ([1, anchors, 5 + classes]) or YOLOv8 ([1, 4 + classes,
        anchors]) with a fixed input [1, 3, H, W], at most {MAX_MODEL_TEXT}. The hub loads it and refuses a
        file that does not fit its format and labels, saying why; agents download it when one of their cameras
        names it.
      </p>
      <label>
        Model file
        <input
          name="file"
          type="file"
          accept=".onnx"
          required
          onChange={(e) => {
            const name = e.currentTarget.files?.[0]?.name
            if (name && !id) setId(idFromFileName(name))
          }}
        />
      </label>
      <label>
        Model id
        <input
          name="id"
          value={id}
          onChange={(e) => setId(e.target.value)}
          required
          maxLength={64}
          pattern={ID_PATTERN}
          title='1 to 64 letters, digits, ".", "_" or "-"; not "default"'
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <SelectField
        label="Format"
        name="format"
        value={format}
        onChange={(e) => setFormat(e.target.value as ModelFormat)}
      >
        <option value="yolox">yolox</option>
        <option value="yolov8">yolov8</option>
      </SelectField>
      <label>
        Labels (one per line, blank: COCO)
        <textarea
          name="labels"
          rows={5}
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
          spellCheck={false}
          aria-describedby={labelsHelp}
        />
      </label>
      <p id={labelsHelp} className="muted small-text">
        The class names in the model's order; blank for COCO's 80 (person, bicycle, car, …). A label cannot
        contain a comma.
      </p>
      <ErrorNotice message={error} />
      {busy && (
        <p role="status" className="notice">
          <progress aria-label="Uploading the model" /> {busy}
        </p>
      )}
      <div>
        <button type="submit" disabled={busy !== undefined}>
          {busy ? 'Uploading…' : 'Upload model'}
        </button>
      </div>
    </form>
  )
}
