package main

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/slurm/ingest"
	"github.com/tally-hpc/tally/slurm/jobstore"
)

// slurmParts are the Slurm-facing pieces of one cluster that serve and
// ingest share.
type slurmParts struct {
	minter  *slurm.Minter
	client  *slurm.Client
	service *slurm.ServiceIdentity
	sacct   *slurm.Sacct
}

// slurmParts of the one cluster the TALLY_* settings describe.
func (c *Config) slurmParts() (slurmParts, error) { return c.fromEnvironment().slurmParts() }

func (cl ClusterConfig) slurmParts() (slurmParts, error) {
	var p slurmParts
	var err error
	if cl.JWTKeyFile != "" {
		p.minter, err = slurm.NewMinter(slurm.MinterConfig{Alg: cl.JWTAlg, KeyFile: cl.JWTKeyFile, Lifetime: cl.JWTLifetime, UserClaim: cl.JWTUserClaim})
		if err != nil {
			return p, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
	}
	if cl.SlurmrestdURL != "" {
		if p.client, err = slurm.NewClient(cl.SlurmrestdURL, nil); err != nil {
			return p, fmt.Errorf("cluster %q: %w", cl.Name, err)
		}
	}
	switch {
	case cl.ServiceTokenFile != "":
		p.service = slurm.NewFileService(cl.ServiceUser, cl.ServiceTokenFile)
	case p.minter != nil && cl.ServiceUser != "":
		p.service = slurm.NewMintedService(cl.ServiceUser, p.minter)
	}
	if cl.Sacct != "" {
		p.sacct = &slurm.Sacct{Path: cl.Sacct, Cluster: cl.Name}
		if cl.SacctJWT && p.service != nil {
			p.sacct.Token = p.service.Credential
		}
	}
	return p, nil
}

// ingester of the one cluster the TALLY_* settings describe.
func (c *Config) ingester(pool *pgxpool.Pool, p slurmParts, log *slog.Logger) (*ingest.Ingester, error) {
	return c.fromEnvironment().ingester(pool, p, log)
}

// ingester builds a cluster's ingest pipeline, or says why it cannot.
// others are the other clusters Tally reads, whose live job lists this
// cluster's refresh must leave alone.
func (cl ClusterConfig) ingester(pool *pgxpool.Pool, p slurmParts, log *slog.Logger, others ...string) (*ingest.Ingester, error) {
	var creds slurm.CredentialSource
	if p.service != nil {
		creds = p.service
	}
	client := p.client
	if creds == nil {
		client = nil // slurmrestd is of no use without a credential
	}
	in, err := ingest.New(ingest.Config{
		Cluster: cl.Name, Source: cl.Source, Window: cl.IngestWindow, APIVersion: cl.SlurmAPIVersion, OtherClusters: others,
	}, jobstore.New(pool), client, creds, p.sacct, log)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return in, nil
}

// otherNames are the names of the clusters but cl.
func otherNames(all []ClusterConfig, cl ClusterConfig) []string {
	var out []string
	for _, o := range all {
		if o.Name != cl.Name {
			out = append(out, o.Name)
		}
	}
	return out
}
