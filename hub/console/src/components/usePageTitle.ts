import { useEffect } from 'react'

/** Sets the document title (what a screen reader announces and the tab shows) for a page. */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · TS-VMS`
  }, [title])
}
