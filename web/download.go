package web

import "net/http"

// download starts a file answer: its type, the name it saves as, and
// no-store. Exports and statements are billing data of one signed-in
// person's scope; a shared proxy or the browser's cache must not keep a
// copy for whoever uses the machine or the proxy next.
func download(w http.ResponseWriter, contentType, filename string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+safeFileName(filename)+`"`)
	h.Set("Cache-Control", "no-store")
}
