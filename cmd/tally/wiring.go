package main

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// slurmParts are the Slurm-facing pieces serve and ingest share.
type slurmParts struct {
	minter  *slurm.Minter
	client  *slurm.Client
	service *slurm.ServiceIdentity
	sacct   *slurm.Sacct
}

func (c *Config) slurmParts() (slurmParts, error) {
	var p slurmParts
	var err error
	if c.JWTKeyFile != "" {
		p.minter, err = slurm.NewMinter(slurm.MinterConfig{Alg: c.JWTAlg, KeyFile: c.JWTKeyFile, Lifetime: c.JWTLifetime, UserClaim: c.JWTUserClaim})
		if err != nil {
			return p, err
		}
	}
	if c.SlurmrestdURL != "" {
		if p.client, err = slurm.NewClient(c.SlurmrestdURL, nil); err != nil {
			return p, err
		}
	}
	switch {
	case c.SlurmServiceTokenFile != "":
		p.service = slurm.NewFileService(c.SlurmServiceUser, c.SlurmServiceTokenFile)
	case p.minter != nil && c.SlurmServiceUser != "":
		p.service = slurm.NewMintedService(c.SlurmServiceUser, p.minter)
	}
	if c.Sacct != "" {
		p.sacct = &slurm.Sacct{Path: c.Sacct, Cluster: c.Cluster}
		if c.SacctJWT && p.service != nil {
			p.sacct.Token = p.service.Credential
		}
	}
	return p, nil
}

// ingester builds the ingest pipeline, or says why it cannot.
func (c *Config) ingester(pool *pgxpool.Pool, p slurmParts, log *slog.Logger) (*ingest.Ingester, error) {
	var creds slurm.CredentialSource
	if p.service != nil {
		creds = p.service
	}
	client := p.client
	if creds == nil {
		client = nil // slurmrestd is of no use without a credential
	}
	in, err := ingest.New(ingest.Config{
		Cluster: c.Cluster, Source: c.IngestSource, Window: c.IngestWindow, APIVersion: c.SlurmAPIVersion,
	}, jobstore.New(pool), client, creds, p.sacct, log)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return in, nil
}
