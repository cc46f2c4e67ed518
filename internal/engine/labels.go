package engine

import "strings"

// Labels docker compose sets and reads; dive sets them too so that
// `docker compose -p <project> ps|logs|down` keep working on what it creates.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneOff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelEnvFile     = "com.docker.compose.project.environment_file"
	LabelVersion     = "com.docker.compose.version"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"

	// LabelManaged marks everything dive created; `dive nuke` removes only that.
	LabelManaged = "io.dive.managed"
	// LabelDiveVersion is the dive version that created the object.
	LabelDiveVersion = "io.dive.version"
	// LabelClass copies the service class onto the container for status and validate.
	LabelClass = "io.dive.class"
	// LabelRole says what a dive object is for: "service", "lock", "standin".
	LabelRole = "io.dive.role"

	// LabelCreatedFor is set on an external network dive had to create.
	LabelCreatedFor = "io.dive.created-for"

	// ComposeVersion is what dive writes in com.docker.compose.version: the
	// compose release whose labels dive reproduces.
	ComposeVersion = "2.40.3"
)

// PrevSuffix ends the name of a container dive keeps during a redeploy: the
// service's previous container, renamed so that the new one can take its
// name, and removed once the new one is ready (or restored by a rollback).
// Its labels are unchanged (the engine cannot change them): the name is the
// mark, read by IsPrev.
const PrevSuffix = "-dive-prev"

// PrevName is the name a kept previous container takes.
func PrevName(name string) string { return name + PrevSuffix }

// IsPrev says whether a container is a kept previous container.
func IsPrev(c Container) bool { return strings.HasSuffix(c.Name, PrevSuffix) }

// Orphans are the containers of cs whose service the compose file no longer
// declares (declared says whether it does), as docker compose counts them:
// a service disabled by a profile is still declared, so its containers are
// not orphans. One-off containers (docker compose run) never are, and a kept
// previous container (IsPrev) is one only when its service is gone too.
func Orphans(cs []Container, declared func(service string) bool) []Container {
	var out []Container
	for _, c := range cs {
		if c.Labels[LabelOneOff] == "True" || declared(c.Service) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// OrphanNames are the containers' names, as docker compose lists them in
// its orphan warning: [a b].
func OrphanNames(cs []Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return "[" + strings.Join(names, " ") + "]"
}
