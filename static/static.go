// Package static embeds Tally's stylesheet, scripts and images and serves
// them under content-hashed names, so browsers may cache them for a year and
// still see a new file the moment it changes.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed css js img
var files embed.FS

// Prefix is the URL path under which assets are served.
const Prefix = "/static/"

type asset struct {
	name  string
	body  []byte
	ctype string
}

// Assets maps logical names ("css/tally.css") to hashed URLs and serves them.
type Assets struct {
	byURL  map[string]asset
	byName map[string]string
}

// New hashes every embedded file.
func New() (*Assets, error) {
	a := &Assets{byURL: map[string]asset{}, byName: map[string]string{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		hashed := strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:])[:10] + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byURL[Prefix+hashed] = asset{name: p, body: b, ctype: ct}
		a.byName[p] = Prefix + hashed
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	return a, nil
}

// URL returns the hashed URL of a logical asset name. An unknown name is a
// programming error and yields a URL that answers 404, visible in tests.
func (a *Assets) URL(name string) string {
	if u, ok := a.byName[name]; ok {
		return u
	}
	return Prefix + "missing/" + name
}

// ServeHTTP serves a hashed asset with a year-long immutable cache lifetime.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byURL[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
