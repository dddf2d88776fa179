package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ClusterConfig is one Slurm cluster Tally reads: where its slurmrestd
// is, the key its tokens are signed with, its commands and its ingest
// schedule. A centre with one cluster sets the TALLY_* variables; one
// with several lists them in the file TALLY_CONFIG names.
type ClusterConfig struct {
	Name             string        `yaml:"name"`
	SlurmrestdURL    string        `yaml:"slurmrestd_url"`
	SlurmAPIVersion  string        `yaml:"slurm_api_version"`
	JWTAlg           string        `yaml:"jwt_alg"`
	JWTKeyFile       string        `yaml:"jwt_key_file"`
	JWTLifetime      time.Duration `yaml:"jwt_lifetime"`
	JWTUserClaim     string        `yaml:"jwt_user_claim"`
	ServiceUser      string        `yaml:"service_user"`
	ServiceTokenFile string        `yaml:"service_token_file"`
	Sacct            string        `yaml:"sacct"`
	Sacctmgr         string        `yaml:"sacctmgr"`
	SacctJWT         bool          `yaml:"sacct_jwt"`
	Source           string        `yaml:"source"`
	IngestInterval   time.Duration `yaml:"ingest_interval"`
	IngestWindow     time.Duration `yaml:"ingest_window"`
	IngestOverlap    time.Duration `yaml:"ingest_overlap"`
}

// clusterFile is the YAML file's shape.
type clusterFile struct {
	Clusters []ClusterConfig `yaml:"clusters"`
}

// fromEnvironment is the one cluster the TALLY_* settings describe.
func (c *Config) fromEnvironment() ClusterConfig {
	return ClusterConfig{Name: c.Cluster, SlurmrestdURL: c.SlurmrestdURL, SlurmAPIVersion: c.SlurmAPIVersion, JWTAlg: c.JWTAlg,
		JWTKeyFile: c.JWTKeyFile, JWTLifetime: c.JWTLifetime, JWTUserClaim: c.JWTUserClaim, ServiceUser: c.SlurmServiceUser,
		ServiceTokenFile: c.SlurmServiceTokenFile, Sacct: c.Sacct, Sacctmgr: c.Sacctmgr, SacctJWT: c.SacctJWT, Source: c.IngestSource,
		IngestInterval: c.IngestInterval, IngestWindow: c.IngestWindow, IngestOverlap: c.IngestOverlap}
}

// clusters are the clusters to read: the file's, each field it leaves
// out taken from the TALLY_* settings (their defaults included), or the
// one cluster of the settings when there is no file.
func (c *Config) clusters() ([]ClusterConfig, error) {
	if c.ConfigFile == "" {
		return []ClusterConfig{c.fromEnvironment()}, nil
	}
	f, err := os.Open(c.ConfigFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, problems := parseClusters(f, c.fromEnvironment())
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s:\n  %s", c.ConfigFile, strings.Join(problems, "\n  "))
	}
	return list, nil
}

var clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// parseClusters reads and checks a clusters file, returning one line per
// mistake (and no clusters) when there are any.
func parseClusters(r io.Reader, defaults ClusterConfig) ([]ClusterConfig, []string) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, []string{err.Error()}
	}
	var file clusterFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is a mistake, not a default
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return nil, []string{"not a clusters file: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(file.Clusters) == 0 {
		return nil, []string{"no clusters: list them under clusters:, each with at least a name and slurmrestd_url or sacct"}
	}
	var problems []string
	seen := map[string]bool{}
	out := make([]ClusterConfig, 0, len(file.Clusters))
	for i, cl := range file.Clusters {
		at := fmt.Sprintf("cluster %d", i+1)
		if cl.Name != "" {
			at = fmt.Sprintf("cluster %q", cl.Name)
		}
		bad := func(format string, a ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, a...)) }
		cl = cl.withDefaults(defaults)
		switch {
		case cl.Name == "":
			bad("give it a name: Slurm's ClusterName")
		case !clusterName.MatchString(cl.Name):
			bad("name %q: letters, digits, '.', '_' and '-' only (Slurm's ClusterName)", cl.Name)
		case seen[cl.Name]:
			bad("listed twice")
		}
		seen[cl.Name] = true
		if cl.SlurmrestdURL != "" {
			if u, err := url.Parse(cl.SlurmrestdURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("slurmrestd_url %q: want http://host:port or https://host:port", cl.SlurmrestdURL)
			}
		}
		switch cl.Source {
		case "auto", "rest", "sacct":
		default:
			bad("source %q: want auto, rest or sacct", cl.Source)
		}
		if cl.Source == "rest" && cl.SlurmrestdURL == "" {
			bad("source rest needs slurmrestd_url")
		}
		if cl.Source == "sacct" && cl.Sacct == "" {
			bad("source sacct needs sacct")
		}
		if cl.SlurmrestdURL == "" && cl.Sacct == "" {
			bad("neither slurmrestd_url nor sacct: nothing to read records from")
		}
		if cl.JWTAlg != "HS256" && cl.JWTAlg != "RS256" {
			bad("jwt_alg %q: want HS256 or RS256", cl.JWTAlg)
		}
		if cl.SlurmrestdURL != "" && cl.JWTKeyFile == "" && cl.ServiceTokenFile == "" {
			bad("slurmrestd_url needs jwt_key_file (or service_token_file) to sign in to it")
		}
		for _, f := range []struct{ key, path string }{{"jwt_key_file", cl.JWTKeyFile}, {"service_token_file", cl.ServiceTokenFile}} {
			if f.path == "" {
				continue
			}
			if fi, err := os.Stat(f.path); err != nil {
				bad("%s %s: %v", f.key, f.path, errors.Unwrap(err))
			} else if fi.Mode().Perm()&0o077 != 0 {
				bad("%s %s is mode %04o: a secret must be readable by its owner only (chmod 600)", f.key, f.path, fi.Mode().Perm())
			}
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"ingest_interval", cl.IngestInterval}, {"ingest_overlap", cl.IngestOverlap}, {"jwt_lifetime", cl.JWTLifetime}} {
			if d.v < 0 {
				bad("%s %s: must not be negative", d.key, d.v)
			}
		}
		if cl.IngestWindow <= 0 {
			bad("ingest_window %s: must be positive", cl.IngestWindow)
		}
		out = append(out, cl)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// withDefaults fills what a cluster's entry leaves out from d. The
// cluster's own name, URL, keys and token files are never inherited: two
// clusters sharing a slurmrestd or a key by accident would read each
// other's records.
func (cl ClusterConfig) withDefaults(d ClusterConfig) ClusterConfig {
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	dur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	str(&cl.SlurmAPIVersion, d.SlurmAPIVersion)
	str(&cl.JWTAlg, d.JWTAlg)
	str(&cl.JWTUserClaim, d.JWTUserClaim)
	str(&cl.ServiceUser, d.ServiceUser)
	str(&cl.Sacctmgr, d.Sacctmgr)
	str(&cl.Source, d.Source)
	dur(&cl.JWTLifetime, d.JWTLifetime)
	dur(&cl.IngestInterval, d.IngestInterval)
	dur(&cl.IngestWindow, d.IngestWindow)
	dur(&cl.IngestOverlap, d.IngestOverlap)
	return cl
}

// describe says in one line what Tally will do with a cluster.
func (cl ClusterConfig) describe() string {
	var how []string
	if cl.SlurmrestdURL != "" {
		how = append(how, "slurmrestd "+cl.SlurmrestdURL+" ("+cl.JWTAlg+")")
	}
	if cl.Sacct != "" {
		how = append(how, "sacct "+cl.Sacct+" -M "+cl.Name)
	}
	every := "on demand only"
	if cl.IngestInterval > 0 {
		every = "every " + cl.IngestInterval.String()
	}
	return fmt.Sprintf("%s: source %s via %s, %s", cl.Name, cl.Source, strings.Join(how, " and "), every)
}
