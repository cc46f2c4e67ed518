package demo

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

// The demo fleet's files, as MaterializeFleet writes them beside the hub's.
const (
	FleetFile     = "dive-fleet.yml"
	SpokeTemplate = "docker-compose.spoke.template.yml"
	SpokeEnvFile  = ".env.spoke"
)

//go:embed fleet/dive-fleet.yml fleet/docker-compose.spoke.template.yml fleet/.env.spoke
var fleetFiles embed.FS

// MaterializeFleet writes the demo fleet (the hub's files, the fleet file,
// the spoke template and its env file) into dir and returns the fleet
// file's absolute path.
func MaterializeFleet(dir string) (string, error) {
	if _, _, err := Materialize(dir); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	for name, perm := range map[string]uint32{FleetFile: 0o644, SpokeTemplate: 0o644, SpokeEnvFile: 0o600} {
		b, err := fleetFiles.ReadFile("fleet/" + name)
		if err != nil {
			panic(fmt.Sprintf("demo: embedded %s missing: %v", name, err)) // impossible: go:embed checked it at build time
		}
		if err := writeIfChanged(filepath.Join(dir, name), b, os.FileMode(perm)); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	}
	return filepath.Join(dir, FleetFile), nil
}
