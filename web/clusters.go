package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tally-hpc/tally/slurm"
	"github.com/tally-hpc/tally/templates"
)

// Cluster is one Slurm cluster as the web layer talks to it: a person
// is the same Unix user on every cluster, and holds a token of each
// cluster's own key, minted when first needed and kept in the session.
type Cluster struct {
	Name       string
	Minter     *slurm.Minter // nil: Tally holds no tokens for this cluster
	Slurm      *slurm.Client // nil: no slurmrestd
	Ingest     IngestControl // nil: no ingest
	APIVersion string        // slurmdb version of the access check on Your account
}

// clusterState is a cluster with what the server remembers of it.
type clusterState struct {
	Cluster
	liveVersion liveVersionCache
}

// setClusters keeps the clusters of d (or the one the single-cluster
// fields describe); the first is the one pages without a cluster of
// their own use.
func (s *Server) setClusters(d Deps) {
	list := d.Clusters
	if len(list) == 0 {
		list = []Cluster{{Name: s.cfg.Auth.Cluster, Minter: d.Minter, Slurm: d.Slurm, Ingest: d.Ingest, APIVersion: s.cfg.Auth.SlurmAPIVersion}}
	}
	for _, c := range list {
		s.clusters = append(s.clusters, &clusterState{Cluster: c})
	}
	first := s.clusters[0]
	s.minter, s.slurm, s.ingest = first.Minter, first.Slurm, first.Ingest
}

// coordinatorCluster is whose coordinators grant the coordinator role:
// the one cluster's, or with several, any configured cluster's.
func (s *Server) coordinatorCluster() string {
	if len(s.clusters) > 1 {
		return ""
	}
	return s.auth.Cluster
}

// tokenKeys are the session keys of a cluster's token and its expiry.
// The first cluster keeps the historical keys.
func tokenKeys(i int, c *clusterState) (token, expires string) {
	if i == 0 {
		return keyToken, keyTokenExp
	}
	return keyToken + "@" + c.Name, keyTokenExp + "@" + c.Name
}

// clusterCredential is the viewer's credential on cluster i, minted from
// that cluster's key when the session holds none or a third or less of
// its lifetime remains. ok is false without a key or a viewer.
func (s *Server) clusterCredential(r *http.Request, i int) (slurm.Credential, bool) {
	v := s.viewer(r)
	c := s.clusters[i]
	if v == nil || c.Minter == nil {
		return slurm.Credential{}, false
	}
	ctx := r.Context()
	tk, ek := tokenKeys(i, c)
	t := slurm.Token{Value: s.sessions.GetString(ctx, tk), Expires: time.Unix(s.sessions.GetInt64(ctx, ek), 0)}
	if t.Value == "" || t.ExpiresWithin(time.Now(), c.Minter.Lifetime()/3) {
		nt, err := s.mintFor(ctx, i, v.SlurmUser)
		if err != nil {
			s.log.Error("minting a Slurm token failed", "cluster", c.Name, "user", v.SlurmUser, "err", err)
			return slurm.Credential{}, false
		}
		t = nt
	}
	return slurm.Credential{User: v.SlurmUser, Token: t}, true
}

// mintFor signs a token for slurmUser with cluster i's key and keeps it in
// the session, server-side.
func (s *Server) mintFor(ctx context.Context, i int, slurmUser string) (slurm.Token, error) {
	c := s.clusters[i]
	t, err := c.Minter.Mint(slurmUser, time.Now())
	if err != nil {
		return slurm.Token{}, err
	}
	tk, ek := tokenKeys(i, c)
	s.sessions.Put(ctx, tk, t.Value)
	s.sessions.Put(ctx, ek, t.Expires.Unix())
	return t, nil
}

// clusterNames lists the clusters by name, for choices on forms.
func (s *Server) clusterNames() []string {
	out := make([]string, 0, len(s.clusters))
	for _, c := range s.clusters {
		out = append(out, c.Name)
	}
	return out
}

// clusterParam reads ?cluster=: "" for every cluster, else one Tally
// reads; any other name is refused rather than shown as nothing.
func (s *Server) clusterParam(r *http.Request) (string, error) {
	c := r.URL.Query().Get("cluster")
	if c == "" || slices.Contains(s.clusterNames(), c) {
		return c, nil
	}
	return "", &inputError{fmt.Sprintf("There is no cluster %q here: Tally reads %s.", c, strings.Join(s.clusterNames(), ", "))}
}

// clusterLinks are the choice of cluster above a page, when there are
// several: every cluster, then each.
func (s *Server) clusterLinks(r *http.Request, current string) []templates.ClusterLink {
	if len(s.clusters) < 2 {
		return nil
	}
	link := func(name string) string {
		q := r.URL.Query()
		q.Del("cluster")
		if name != "" {
			q.Set("cluster", name)
		}
		if e := q.Encode(); e != "" {
			return r.URL.Path + "?" + e
		}
		return r.URL.Path
	}
	out := []templates.ClusterLink{{Label: "All clusters", Href: link(""), Current: current == ""}}
	for _, c := range s.clusters {
		out = append(out, templates.ClusterLink{Label: c.Name, Href: link(c.Name), Current: current == c.Name})
	}
	return out
}
