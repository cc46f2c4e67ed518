package engine

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
