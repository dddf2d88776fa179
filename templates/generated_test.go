package templates_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The generated *_templ.go files are committed; this fails when a .templ
// source changed without `make generate`.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	srcs, err := filepath.Glob("*.templ")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no templ sources: %v", err)
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			// From the module root, as `make generate` runs it: file names
			// recorded in the generated code are relative to it.
			cmd := exec.Command("go", "tool", "templ", "generate", "-f", filepath.Join("templates", src), "-stdout")
			cmd.Dir = ".."
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("templ generate: %v\n%s", err, stderr.String())
			}
			got, err := os.ReadFile(src[:len(src)-len(".templ")] + "_templ.go")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s_templ.go is stale: run `make generate` and commit the result", src[:len(src)-len(".templ")])
			}
		})
	}
}
