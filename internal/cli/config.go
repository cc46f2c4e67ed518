package cli

import (
	"os"
	"strconv"

	"github.com/dive-hub/dive/internal/fleet"
	"github.com/dive-hub/dive/internal/preflight"
	"github.com/dive-hub/dive/internal/standin"
)

// envConfig is every setting dive takes from the environment, read once when
// the command starts (resolveEnv) and passed down as values. Precedence is
// flags, then these variables, then defaults; the library packages read no
// environment variable (compose interpolation gets Environ as a value).
type envConfig struct {
	StateDir         string          // DIVE_STATE_DIR: below --state-dir
	StateHome        string          // XDG_STATE_HOME: where --demo materializes its files
	StandinImage     string          // DIVE_STANDIN_IMAGE: the stand-in image reference
	StandinBinary    string          // DIVE_STANDIN_BINARY: the linux dive binary for the stand-in image
	ProbeConcurrency int             // DIVE_PROBE_CONCURRENCY; 0: deploy.Run's default from the engine's CPUs
	BreakerCooldown  string          // DIVE_BREAKER_COOLDOWN (parsed, with a warning, by the breaker)
	TextfileDir      string          // DIVE_TEXTFILE_DIR: a second Prometheus textfile
	MinFreeDisk      string          // DIVE_MIN_FREE_DISK: below --min-disk
	KeepDeploys      string          // DIVE_KEEP_DEPLOYS: how many deploys' records to keep (keepDeploys)
	OTLP             bool            // OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
	Docker           fleet.DockerEnv // DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG: the docker CLI's engine and config folder
	RemoveOrphans    bool            // COMPOSE_REMOVE_ORPHANS: deploy --remove-orphans by default, as docker compose
	Environ          []string        // the whole environment, for compose interpolation
}

// resolveEnv reads the environment once.
func resolveEnv(getenv func(string) string, environ []string) envConfig {
	c := envConfig{
		StateDir:        getenv("DIVE_STATE_DIR"),
		StateHome:       getenv("XDG_STATE_HOME"),
		StandinImage:    getenv("DIVE_STANDIN_IMAGE"),
		StandinBinary:   getenv(standin.EnvBinary),
		BreakerCooldown: getenv("DIVE_BREAKER_COOLDOWN"),
		TextfileDir:     getenv("DIVE_TEXTFILE_DIR"),
		MinFreeDisk:     getenv(preflight.EnvMinFreeDisk),
		KeepDeploys:     getenv(envKeepDeploys),
		OTLP:            getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "",
		Docker:          fleet.DockerEnv{Host: getenv("DOCKER_HOST"), Context: getenv("DOCKER_CONTEXT"), Config: getenv("DOCKER_CONFIG")},
		Environ:         environ,
	}
	// docker compose reads it with strconv.ParseBool: 1, true, ...
	c.RemoveOrphans, _ = strconv.ParseBool(getenv("COMPOSE_REMOVE_ORPHANS"))
	if n, err := strconv.Atoi(getenv("DIVE_PROBE_CONCURRENCY")); err == nil && n > 0 {
		c.ProbeConcurrency = n
	}
	return c
}

// processEnv is the environment of this process, resolved.
func processEnv() envConfig { return resolveEnv(os.Getenv, os.Environ()) }
