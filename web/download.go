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

// utf8BOM marks a file as UTF-8 for spreadsheet programs that otherwise
// read it in the machine's legacy code page (Excel on Windows turns
// "Müller" and CJK names into mojibake without it).
const utf8BOM = "\ufeff"

// csvDownload starts a CSV answer; with ?bom=1 it begins with a UTF-8
// byte-order mark. Off by default: most programs that import CSV (and
// every script) read UTF-8 as it is and would keep the mark as text.
func csvDownload(w http.ResponseWriter, r *http.Request, filename string) {
	download(w, "text/csv; charset=utf-8", filename)
	if r.URL.Query().Get("bom") == "1" {
		_, _ = w.Write([]byte(utf8BOM))
	}
}

// startOnWrite calls start (which sets a download's headers) just before
// the first write, so that a handler whose writer fails before writing
// anything can still answer with an error page.
type startOnWrite struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (s *startOnWrite) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
}
