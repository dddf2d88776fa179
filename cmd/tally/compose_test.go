package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs in CI, so the compose file is checked by reading it:
// the services, health check, port, and that every TALLY_* name it sets is
// one the Config knows.
func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       map[string]string `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	pg, ok := doc.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if len(pg.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Error("postgres has no pg_isready health check")
	}
	if len(pg.Volumes) == 0 {
		t.Error("postgres keeps its data in no volume")
	} else if name := strings.SplitN(pg.Volumes[0], ":", 2)[0]; doc.Volumes == nil || !hasKey(doc.Volumes, name) {
		t.Errorf("volume %q is not declared", name)
	}
	tally, ok := doc.Services["tally"]
	if !ok {
		t.Fatal("no tally service")
	}
	if tally.Build["dockerfile"] == "" {
		t.Error("tally is not built from the Dockerfile")
	} else if _, err := os.Stat("../../" + tally.Build["dockerfile"]); err != nil {
		t.Error(err)
	}
	if tally.DependsOn["postgres"].Condition != "service_healthy" {
		t.Error("tally does not wait for a healthy postgres")
	}
	if len(tally.Ports) != 1 || tally.Ports[0] != "8080:8080" {
		t.Errorf("ports %v, want 8080:8080", tally.Ports)
	}
	known := map[string]bool{}
	var c Config
	for _, o := range c.options() {
		known[o.env] = true
	}
	for k := range tally.Environment {
		if strings.HasPrefix(k, "TALLY_") && !known[k] {
			t.Errorf("compose sets %s, which Tally does not read", k)
		}
	}
	for _, k := range []string{"TALLY_DATABASE_URL", "TALLY_ADDR", "TALLY_MIGRATE"} {
		if tally.Environment[k] == "" {
			t.Errorf("compose does not set %s", k)
		}
	}
	if !strings.Contains(tally.Environment["TALLY_DATABASE_URL"], "@postgres:5432/") {
		t.Error("TALLY_DATABASE_URL does not point at the postgres service")
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "CGO_ENABLED=1") || !strings.Contains(string(df), "libpam0g-dev") {
		t.Error("Dockerfile must build with cgo and the PAM headers")
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }
