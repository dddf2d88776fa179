package main

import (
	"context"
	"fmt"

	"github.com/tally-hpc/tally/slurm"
)

// runJWKS prints the key set Slurm's `AuthAltParameters=jwks=` file needs
// when Tally signs with RS256: only the public half of the key.
func runJWKS(ctx context.Context, env *cmdEnv, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "jwks", `jwks [flags]

Prints the JSON Web Key Set for Tally's RS256 key. Save it where slurm.conf's
AuthAltParameters=jwks=/etc/slurm/jwks.json points, on slurmctld, slurmdbd and
slurmrestd hosts. It holds the public key only.`)
	if err := cfg.bind(fs, "slurm"); err != nil {
		return usageErr("%v", err)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.JWTAlg != "RS256" {
		return usageErr("set TALLY_JWT_ALG=RS256 (HS256 keys are shared secrets; there is nothing public to print)")
	}
	m, err := slurm.NewMinter(slurm.MinterConfig{Alg: cfg.JWTAlg, KeyFile: cfg.JWTKeyFile})
	if err != nil {
		return fail("%v", err)
	}
	b, err := m.JWKS()
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(env.stdout, string(b))
	return nil
}
