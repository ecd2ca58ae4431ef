import { type BulkResult, bulkErrorText } from '../../../api/device-types.ts'
import { SnapshotImage } from '../../../components/SnapshotImage.tsx'

/** Per-row results of a bulk add: what was created (with a current still), and why a row was not. */
export function BulkResults({ results }: { results: (BulkResult & { name?: string })[] }) {
  const created = results.filter((r) => r.status === 'created').length
  return (
    <div className="card">
      <h2 id="bulk-results">Results</h2>
      <p role="status">
        {created} of {results.length} camera{results.length === 1 ? '' : 's'} added
        {created < results.length ? `, ${results.length - created} not` : ''}.
      </p>
      <table aria-labelledby="bulk-results">
        <thead>
          <tr>
            <th scope="col">Row</th>
            <th scope="col">Camera</th>
            <th scope="col">Result</th>
            <th scope="col">Still</th>
          </tr>
        </thead>
        <tbody>
          {results.map((r) => (
            <tr key={`${r.row}:${r.cameraId ?? ''}`}>
              <td>{r.row}</td>
              <td>{r.name ?? '—'}</td>
              <td>
                {r.status === 'created' ? (
                  <span className="badge badge-ok">created</span>
                ) : (
                  <span className="adm-bad">{bulkErrorText(r.error) || 'not added'}</span>
                )}
              </td>
              <td>
                {r.cameraId && (
                  <SnapshotImage
                    className="thumb"
                    lazy
                    path={`/api/v1/cameras/${r.cameraId}/snapshot.jpg`}
                    alt={`Still of ${r.name ?? 'the new camera'}`}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
