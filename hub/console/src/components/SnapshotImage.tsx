import { useEffect, useRef, useState } from 'react'
import { api, describeError } from '../api/client.ts'

/**
 * An image the hub serves only with the session's bearer token (an event's snapshot): fetched
 * with the API client, shown through an object URL (the CSP's img-src allows blob:), released when
 * the image leaves the page. `lazy` waits until the placeholder scrolls into view, so a long list
 * of events fetches only the thumbnails someone looks at.
 */
export function SnapshotImage({
  path,
  alt,
  className,
  lazy = false,
}: {
  path: string
  alt: string
  className?: string
  lazy?: boolean
}) {
  const holder = useRef<HTMLSpanElement>(null)
  const [visible, setVisible] = useState(!lazy)
  const [src, setSrc] = useState<string>()
  const [error, setError] = useState<string>()

  useEffect(() => {
    if (visible) return
    const el = holder.current
    if (!el || typeof IntersectionObserver === 'undefined') {
      setVisible(true)
      return
    }
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) setVisible(true)
      },
      { rootMargin: '200px' },
    )
    observer.observe(el)
    return () => observer.disconnect()
  }, [visible])

  useEffect(() => {
    if (!visible) return
    const abort = new AbortController()
    let url: string | undefined
    setError(undefined)
    api
      .fetch(path, { signal: abort.signal })
      .then(async (res) => {
        if (!res.ok) throw new Error(res.status === 404 ? 'no snapshot' : `the hub answered ${res.status}`)
        const blob = await res.blob()
        if (abort.signal.aborted) return
        url = URL.createObjectURL(blob)
        setSrc(url)
      })
      .catch((err: unknown) => {
        if (!abort.signal.aborted) setError(describeError(err))
      })
    return () => {
      abort.abort()
      if (url) URL.revokeObjectURL(url)
      setSrc(undefined)
    }
  }, [path, visible])

  if (src) return <img className={className} src={src} alt={alt} />
  return (
    <span
      ref={holder}
      className={`${className ?? ''} snapshot-placeholder`}
      title={error ? `${alt}: ${error}` : alt}
    >
      {error ? 'No snapshot' : ''}
    </span>
  )
}
