package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version describes the build from the module and VCS information the Go
// toolchain stamps into every binary, so no linker flags are needed.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "dev-" + rev + modified
	}
	if v == "" {
		return "(devel)"
	}
	return v
}

func runVersion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "version", "version\n\nPrints Tally's version and the Go version it was built with.")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "tally %s (%s)\n", version(), runtime.Version())
	return nil
}
