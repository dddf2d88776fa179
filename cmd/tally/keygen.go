package main

import (
	"context"
	"fmt"

	"github.com/tally-hpc/tally/web"
)

// runKeygen writes a session key, so that operators need neither openssl
// nor to know the file's format.
func runKeygen(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "keygen", `keygen FILE

Writes a new random key for TALLY_SESSION_KEY_FILE to FILE, mode 0600: 64
hexadecimal characters (32 bytes). It never overwrites a file. Every replica
reads the same key; keep it out of database backups, which it protects.

To rotate: write a new key and list it after the old one on every replica
(TALLY_SESSION_KEY_FILE=OLD,NEW: the first encrypts, every one decrypts),
then before it (NEW,OLD), then drop OLD once TALLY_SESSION_LIFETIME has
passed. With a single replica, NEW,OLD at once will do.`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("give one file to write the key to (tally keygen /etc/tally/session.key)")
	}
	path := fs.Arg(0)
	if err := web.WriteSessionKeyFile(path); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(env.stderr, "wrote a new session key to %s (mode 0600); set TALLY_SESSION_KEY_FILE=%s\n", path, path)
	return nil
}
