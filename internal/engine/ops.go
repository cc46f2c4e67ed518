package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// NetworkSpec is a network to ensure.
type NetworkSpec struct {
	Name     string // engine name
	Key      string // compose key
	Project  string
	Driver   string
	Options  map[string]string
	Labels   map[string]string
	Internal bool
	External bool
	Attach   bool
	// IPAM is the file's ipam (subnets, ranges, gateways); nil lets the
	// engine choose. EnableIPv6 is enable_ipv6, nil when unset.
	IPAM       *network.IPAM
	EnableIPv6 *bool
}

// EnsureNetwork creates the network when no network of that name exists.
// It reports whether it created it.
func (e *Engine) EnsureNetwork(ctx context.Context, n NetworkSpec) (bool, error) {
	list, err := do(ctx, e, "network list", func(ctx context.Context) (client.NetworkListResult, error) {
		return e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", n.Name)})
	})
	if err != nil {
		return false, err
	}
	for _, it := range list.Items {
		if it.Name == n.Name {
			return false, subnetsDiffer(n, it.IPAM)
		}
	}
	labels := map[string]string{LabelManaged: "true", LabelDiveVersion: ""}
	if n.External {
		// dive creates a missing external network, as the old CLI did; it
		// remembers for which project so that down -v can remove it again.
		labels[LabelCreatedFor] = n.Project
	} else {
		labels[LabelProject] = n.Project
		labels[LabelNetwork] = n.Key
		labels[LabelVersion] = ComposeVersion
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	delete(labels, LabelDiveVersion)
	driver := n.Driver
	if driver == "" {
		driver = "bridge"
	}
	_, err = do(ctx, e, "network create "+n.Name, func(ctx context.Context) (client.NetworkCreateResult, error) {
		return e.cli.NetworkCreate(ctx, n.Name, client.NetworkCreateOptions{Driver: driver, Options: n.Options, Labels: labels, Internal: n.Internal, Attachable: n.Attach,
			IPAM: n.IPAM, EnableIPv6: n.EnableIPv6})
	})
	if err != nil {
		return false, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	return true, nil
}

// VolumeSpec is a named volume to ensure.
type VolumeSpec struct {
	Name, Key, Project string
	Driver             string
	DriverOpts         map[string]string
	Labels             map[string]string
	External           bool
}

// EnsureVolume creates a volume when missing; an external one must exist.
func (e *Engine) EnsureVolume(ctx context.Context, v VolumeSpec) (bool, error) {
	_, err := do(ctx, e, "volume inspect", func(ctx context.Context) (client.VolumeInspectResult, error) {
		return e.cli.VolumeInspect(ctx, v.Name, client.VolumeInspectOptions{})
	})
	if err == nil {
		return false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, err
	}
	if v.External {
		return false, fmt.Errorf("external volume %s does not exist; create it with 'docker volume create %s'", v.Name, v.Name)
	}
	labels := map[string]string{LabelProject: v.Project, LabelVolume: v.Key, LabelVersion: ComposeVersion, LabelManaged: "true"}
	for k, val := range v.Labels {
		labels[k] = val
	}
	_, err = do(ctx, e, "volume create "+v.Name, func(ctx context.Context) (client.VolumeCreateResult, error) {
		return e.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels})
	})
	if err != nil {
		return false, fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	return true, nil
}

// ImageID returns the ID of a local image, or "" when it is missing.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := e.Image(ctx, ref)
	return img.ID, err
}

// Image is what dive reads of a local image.
type Image struct {
	ID string // "" when the image is missing
	// Healthcheck is the image's own (a Dockerfile's HEALTHCHECK, or its
	// base image's), nil when it has none; the engine merges it with the
	// container's at create (EffectiveHealthcheck).
	Healthcheck *container.HealthConfig
	// Volumes are its VOLUME paths: where a recreated container inherits
	// anonymous volumes (Inherit).
	Volumes map[string]struct{}
}

// Image inspects a local image; its ID is "" when it is missing.
func (e *Engine) Image(ctx context.Context, ref string) (Image, error) {
	res, err := do(ctx, e, "image inspect", func(ctx context.Context) (client.ImageInspectResult, error) {
		return e.cli.ImageInspect(ctx, ref)
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return Image{}, nil
		}
		return Image{}, err
	}
	img := Image{ID: res.ID}
	if res.Config != nil {
		img.Healthcheck, img.Volumes = res.Config.Healthcheck, res.Config.Volumes
	}
	return img, nil
}

// readBuildStream decodes the JSON-lines build output until EOF.
func readBuildStream(r io.Reader, progress func(string)) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Stream != "" {
			for _, l := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
				tail = append(tail, l)
				if len(tail) > 15 {
					tail = tail[1:]
				}
				if progress != nil {
					progress(l)
				}
			}
		}
		if m.Error != "" {
			msg := m.ErrorDetail.Message
			if msg == "" {
				msg = m.Error
			}
			return fmt.Errorf("build failed: %s\n  last build output:\n    %s", msg, strings.Join(tail, "\n    "))
		}
	}
}

// Container is what dive knows of an existing container.
type Container struct {
	ID       string
	Name     string
	Service  string
	Project  string
	Hash     string
	Class    string
	State    string // created, running, exited, restarting, ...
	Health   string // "", starting, healthy, unhealthy
	Labels   map[string]string
	Image    string
	Created  time.Time
	Status   string
	Ports    []container.PortSummary
	Networks []string
	Mounts   []container.MountPoint
}

// ListContainers lists a project's containers (all states); project ""
// lists every container dive created (managed, role service).
func (e *Engine) ListContainers(ctx context.Context, project string) ([]Container, error) {
	f := make(client.Filters)
	if project != "" {
		f.Add("label", LabelProject+"="+project)
	} else {
		// The role too: a container inherits its image's labels, and the
		// images dive builds (the stand-in, build: services) carry the
		// managed label, so a container anyone runs from them has it. Only
		// the containers dive creates have the role "service".
		f.Add("label", LabelManaged+"=true")
		f.Add("label", LabelRole+"=service")
	}
	res, err := do(ctx, e, "container list", func(ctx context.Context) (client.ContainerListResult, error) {
		return e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	})
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(res.Items))
	for _, it := range res.Items {
		c := Container{
			ID: it.ID, Service: it.Labels[LabelService], Project: it.Labels[LabelProject],
			Hash: it.Labels[LabelConfigHash], Class: it.Labels[LabelClass], State: string(it.State),
			Labels: it.Labels, Image: it.Image, Created: time.Unix(it.Created, 0), Status: it.Status, Ports: it.Ports, Mounts: it.Mounts,
		}
		if it.Health != nil {
			c.Health = string(it.Health.Status)
			if c.Health == "none" {
				c.Health = ""
			}
		}
		if c.Health == "" {
			// API < 1.44 has no Health in the list; the status text has it.
			c.Health = healthFromStatus(it.Status)
		}
		if len(it.Names) > 0 {
			c.Name = strings.TrimPrefix(it.Names[0], "/")
		}
		if it.NetworkSettings != nil {
			for n := range it.NetworkSettings.Networks {
				c.Networks = append(c.Networks, n)
			}
			sort.Strings(c.Networks)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Create creates a container and attaches its extra networks; it does not
// start it. References to other services (links, volumes_from, ipc/pid
// service:NAME) are resolved here, secrets and configs with inline content
// are copied in, and post_start hooks are remembered for Start.
func (e *Engine) Create(ctx context.Context, s *ContainerSpec) (string, error) {
	host, links, err := e.resolveRefs(ctx, s)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", s.Service, err)
	}
	host.Links = links
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	eps := make([]*network.EndpointSettings, len(s.Networks))
	for i, n := range s.Networks {
		ep := *n.Endpoint
		ep.Links = links
		eps[i] = &ep
	}
	configMAC := s.macAddress != "" && !versionAtLeast(e.apiVersion, apiEndpointMAC)
	if s.macAddress != "" && !configMAC && len(eps) > 0 {
		if eps[0], err = endpointMAC(eps[0], s.macAddress); err != nil {
			return "", fmt.Errorf("service %s: %w", s.Service, err)
		}
	}
	if len(s.Networks) > 0 {
		nc.EndpointsConfig[s.Networks[0].Name] = eps[0]
	}
	res, err := do(ctx, e, "container create "+s.Name, func(ctx context.Context) (client.ContainerCreateResult, error) {
		if configMAC || len(s.rawExposed) > 0 {
			mac := ""
			if configMAC {
				mac = s.macAddress
			}
			id, err := e.createRaw(ctx, s.Name, mac, s.rawExposed, container.CreateRequest{Config: s.Config, HostConfig: host, NetworkingConfig: nc}, platformOf(s.Platform))
			return client.ContainerCreateResult{ID: id}, err
		}
		return e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: s.Name, Config: s.Config, HostConfig: host, NetworkingConfig: nc, Platform: platformOf(s.Platform)})
	})
	if err != nil {
		return "", err
	}
	for i, n := range s.Networks[min(1, len(s.Networks)):] {
		_, err := do(ctx, e, "network connect "+n.Name, func(ctx context.Context) (client.NetworkConnectResult, error) {
			return e.cli.NetworkConnect(ctx, n.Name, client.NetworkConnectOptions{Container: res.ID, EndpointConfig: eps[i+1]})
		})
		if err != nil {
			return res.ID, fmt.Errorf("connect %s to network %s: %w", s.Name, n.Name, err)
		}
	}
	if err := e.copyFiles(ctx, res.ID, s.Files); err != nil {
		return res.ID, fmt.Errorf("container %s: %w", s.Name, err)
	}
	e.hooks.set(res.ID, s)
	return res.ID, nil
}

// Start starts a container, then runs the post_start hooks of a container
// this engine created: the container counts as started only after them.
func (e *Engine) Start(ctx context.Context, id string) error {
	_, err := do(ctx, e, "container start", func(ctx context.Context) (client.ContainerStartResult, error) {
		return e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	})
	if err != nil {
		return err
	}
	if hs, ok := e.hooks.get(id); ok {
		return e.RunHooks(ctx, id, "post_start", hs.service, hs.tty, hs.post)
	}
	return nil
}

// Stop stops a container, giving it grace before SIGKILL.
func (e *Engine) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Round(time.Second) / time.Second)
	// The call's deadline covers the grace period it asks the engine to
	// wait, plus the usual per-call margin: a 2-minute stop_grace_period is
	// waited in full, never cut at the per-call timeout.
	_, err := doFor(ctx, e, "container stop", time.Duration(secs)*time.Second, func(ctx context.Context) (client.ContainerStopResult, error) {
		return e.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Rename gives a container a new name (a kept previous container, and its
// restoring).
func (e *Engine) Rename(ctx context.Context, id, name string) error {
	_, err := do(ctx, e, "container rename", func(ctx context.Context) (client.ContainerRenameResult, error) {
		return e.cli.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name})
	})
	return err
}

// Remove force-removes a container (and its anonymous volumes when volumes is set).
// When the engine is already removing it (an earlier call whose answer was
// lost, or another client), Remove waits for that removal to finish.
func (e *Engine) Remove(ctx context.Context, id string, volumes bool) error {
	_, err := do(ctx, e, "container remove", func(ctx context.Context) (client.ContainerRemoveResult, error) {
		return e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: volumes})
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil && strings.Contains(err.Error(), "already in progress") {
		return e.waitGone(ctx, id)
	}
	return err
}

// waitGone waits until a container the engine is removing no longer
// exists, for as long as a few calls may take on a busy engine.
func (e *Engine) waitGone(ctx context.Context, id string) error {
	limit := max(4*e.opts.CallTimeout, time.Minute)
	ctx, cancel := e.callContext(ctx, limit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s: the engine's removal did not finish within %s: %w", short(id), limit, ctx.Err())
		case <-tick.C:
		}
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Inspect returns a container's full state.
func (e *Engine) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	res, err := do(ctx, e, "container inspect", func(ctx context.Context) (client.ContainerInspectResult, error) {
		r, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil && strings.Contains(err.Error(), "invalid port") {
			// an exposed port range (expose: "5000-5002"), which the
			// client's typed ports cannot decode
			r.Container, err = e.inspectRanges(ctx, id)
		}
		return r, err
	})
	return res.Container, err
}

// ExecResult is the outcome of one exec.
type ExecResult struct {
	ExitCode int
	Output   string // stdout and stderr, truncated to 4 KiB
}

// Exec runs cmd in a container and waits for it, bounded by timeout.
// It is not retried: probes run again on their own cadence.
func (e *Engine) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (ExecResult, error) {
	ctx, cancel := e.callContext(ctx, timeout)
	defer cancel()
	if e.costlyDial() {
		return e.execDetached(ctx, id, cmd, timeout)
	}
	cr, err := e.cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return ExecResult{}, err
	}
	att, err := e.cli.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, err
	}
	var buf limitedBuffer
	buf.max = 4096
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&buf, &buf, att.Reader)
		done <- err
	}()
	select {
	case <-ctx.Done():
		att.Close()
		return ExecResult{Output: buf.String()}, fmt.Errorf("probe did not finish within %s", timeout)
	case <-done:
	}
	att.Close()
	ins, err := e.cli.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
	if err != nil {
		return ExecResult{Output: buf.String()}, err
	}
	if ins.Running {
		return ExecResult{Output: buf.String()}, errors.New("probe still running after its output closed")
	}
	return ExecResult{ExitCode: ins.ExitCode, Output: buf.String()}, nil
}

// execDetached is Exec without a connection of its own: an attached exec
// takes over (hijacks) its connection, which an ssh engine pays with a new
// ssh session per probe. The exec is started detached and its end read by
// inspecting it on pooled connections. The command's output is not kept;
// an exec the engine could not start (exit 126/127) carries the engine's
// message as its output, as the attached stream would.
func (e *Engine) execDetached(ctx context.Context, id string, cmd []string, timeout time.Duration) (ExecResult, error) {
	timedOut := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("probe did not finish within %s", timeout)
		}
		return err
	}
	cr, err := e.cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd})
	if err != nil {
		return ExecResult{}, timedOut(err)
	}
	_, startErr := e.cli.ExecStart(ctx, cr.ID, client.ExecStartOptions{Detach: true})
	if startErr != nil && (ctx.Err() != nil || isTransport(startErr) || cerrdefs.IsConflict(startErr) || cerrdefs.IsNotFound(startErr)) {
		// No verdict, or one about the container (not running, gone):
		// the attached path returns these as errors too.
		return ExecResult{}, timedOut(startErr)
	}
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		ins, err := e.cli.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
		if err != nil {
			return ExecResult{}, timedOut(err)
		}
		if !ins.Running {
			if startErr == nil {
				return ExecResult{ExitCode: ins.ExitCode}, nil
			}
			// The engine failed to start it (an OCI runtime failure, an
			// unknown user): it records exit 126 and, attached, writes its
			// message to the stream.
			if ins.ExitCode == 0 {
				return ExecResult{}, startErr
			}
			return ExecResult{ExitCode: ins.ExitCode, Output: strings.TrimPrefix(startErr.Error(), "Error response from daemon: ")}, nil
		}
		select {
		case <-ctx.Done():
			return ExecResult{}, timedOut(ctx.Err())
		case <-time.After(wait):
		}
	}
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// Logs returns the last tail lines of a container's output, demultiplexed.
func (e *Engine) Logs(ctx context.Context, id string, tail int) ([]string, error) {
	ctx, cancel := e.callContext(ctx, e.opts.CallTimeout)
	defer cancel()
	rc, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(tail)})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		// a TTY container's logs are not multiplexed
		return splitLines(buf.String()), nil
	}
	return splitLines(buf.String()), nil
}

// StreamLogs copies a container's logs to w, line by line with prefix, until
// ctx ends (follow) or the logs end.
func (e *Engine) StreamLogs(ctx context.Context, id string, tail string, follow, timestamps bool, w io.Writer, prefix string) error {
	rc, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail, Follow: follow, Timestamps: timestamps})
	if err != nil {
		return err
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if _, err := fmt.Fprintf(w, "%s%s\n", prefix, sc.Text()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Event is a container event of interest to the scheduler.
type Event struct {
	ContainerID string
	Service     string
	Action      string // start, die, oom, restart, health_status, destroy, stop, kill
	Health      string // for health_status: healthy, unhealthy, starting
	ExitCode    int    // for die
	Time        time.Time
}

// Watch subscribes to a project's container events. The subscription is
// live when Watch returns, so a caller can subscribe first, then inspect.
// The channel closes when ctx ends or the stream breaks; errs then carries
// the reason (nil on ctx end).
func (e *Engine) Watch(ctx context.Context, project string) (<-chan Event, <-chan error) {
	f := make(client.Filters).Add("type", "container").Add("label", LabelProject+"="+project).
		Add("event", "start", "die", "oom", "restart", "health_status", "destroy", "stop", "kill")
	res := e.cli.Events(ctx, client.EventsListOptions{Filters: f})
	out := make(chan Event, 256)
	errs := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				errs <- nil
				return
			case err := <-res.Err:
				if ctx.Err() != nil {
					errs <- nil
				} else {
					if gone(err) {
						e.lost.Store(true)
					}
					errs <- fmt.Errorf("engine event stream broke: %w", err)
				}
				return
			case m := <-res.Messages:
				out <- toEvent(m)
			}
		}
	}()
	return out, errs
}

func toEvent(m events.Message) Event {
	ev := Event{ContainerID: m.Actor.ID, Service: m.Actor.Attributes[LabelService], Action: string(m.Action), Time: time.Unix(0, m.TimeNano)}
	if a, h, ok := strings.Cut(ev.Action, ":"); ok {
		ev.Action = strings.TrimSpace(a)
		ev.Health = strings.TrimSpace(h)
	}
	if ev.Action == "die" {
		ev.ExitCode, _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
	}
	return ev
}

// Stats is one resource sample.
type Stats struct {
	CPUPercent float64
	MemBytes   float64
}

// NetworkInfo describes an existing network.
type NetworkInfo struct {
	ID, Name string
	Labels   map[string]string
}

// ListNetworks lists networks carrying a label (key=value).
func (e *Engine) ListNetworks(ctx context.Context, label string) ([]NetworkInfo, error) {
	res, err := do(ctx, e, "network list", func(ctx context.Context) (client.NetworkListResult, error) {
		return e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", label)})
	})
	if err != nil {
		return nil, err
	}
	var out []NetworkInfo
	for _, n := range res.Items {
		out = append(out, NetworkInfo{ID: n.ID, Name: n.Name, Labels: n.Labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NetworkExists reports whether a network of that exact name exists.
func (e *Engine) NetworkExists(ctx context.Context, name string) (bool, error) {
	res, err := do(ctx, e, "network list", func(ctx context.Context) (client.NetworkListResult, error) {
		return e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	})
	if err != nil {
		return false, err
	}
	for _, n := range res.Items {
		if n.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// RemoveNetwork removes a network; a missing one is not an error. A network
// whose last endpoints the engine is still releasing (containers removed a
// moment ago) is tried again for up to one per-call timeout.
func (e *Engine) RemoveNetwork(ctx context.Context, id string) error {
	deadline := time.Now().Add(e.opts.CallTimeout)
	for {
		_, err := do(ctx, e, "network remove", func(ctx context.Context) (client.NetworkRemoveResult, error) {
			return e.cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err == nil || !strings.Contains(err.Error(), "active endpoints") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// NetworkUsers names the containers attached to a network now.
func (e *Engine) NetworkUsers(ctx context.Context, id string) ([]string, error) {
	res, err := do(ctx, e, "network inspect", func(ctx context.Context) (client.NetworkInspectResult, error) {
		return e.cli.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range res.Network.Containers {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out, nil
}

// VolumeInfo describes an existing volume.
type VolumeInfo struct {
	Name   string
	Labels map[string]string
}

// ListVolumes lists volumes carrying a label (key=value).
func (e *Engine) ListVolumes(ctx context.Context, label string) ([]VolumeInfo, error) {
	res, err := do(ctx, e, "volume list", func(ctx context.Context) (client.VolumeListResult, error) {
		return e.cli.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", label)})
	})
	if err != nil {
		return nil, err
	}
	var out []VolumeInfo
	for _, v := range res.Items {
		out = append(out, VolumeInfo{Name: v.Name, Labels: v.Labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveVolume removes a volume; a missing one is not an error.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	_, err := do(ctx, e, "volume remove", func(ctx context.Context) (client.VolumeRemoveResult, error) {
		return e.cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// ImageInfo describes a local image.
type ImageInfo struct {
	ID   string
	Tags []string
}

// ListImages lists images carrying a label.
func (e *Engine) ListImages(ctx context.Context, label string) ([]ImageInfo, error) {
	res, err := do(ctx, e, "image list", func(ctx context.Context) (client.ImageListResult, error) {
		return e.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", label)})
	})
	if err != nil {
		return nil, err
	}
	var out []ImageInfo
	for _, im := range res.Items {
		out = append(out, ImageInfo{ID: im.ID, Tags: im.RepoTags})
	}
	return out, nil
}

// RemoveImage force-removes an image and its untagged parents.
func (e *Engine) RemoveImage(ctx context.Context, id string) error {
	_, err := do(ctx, e, "image remove", func(ctx context.Context) (client.ImageRemoveResult, error) {
		return e.cli.ImageRemove(ctx, id, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// SystemInfo is what preflight needs of the engine.
type SystemInfo struct {
	DataRoot string
	MemTotal int64
	NCPU     int
	Name     string // the engine host's name
}

// Info returns the engine's data root, memory and CPUs.
func (e *Engine) Info(ctx context.Context) (SystemInfo, error) {
	res, err := do(ctx, e, "info", func(ctx context.Context) (client.SystemInfoResult, error) {
		return e.cli.Info(ctx, client.InfoOptions{})
	})
	if err != nil {
		return SystemInfo{}, err
	}
	if res.Info.NCPU > 0 {
		e.ncpu.Store(int32(res.Info.NCPU))
	}
	return SystemInfo{DataRoot: res.Info.DockerRootDir, MemTotal: res.Info.MemTotal, NCPU: res.Info.NCPU, Name: res.Info.Name}, nil
}

// CPUs is how many CPUs the engine's machine has (from its info, asked at
// most until it answered once), or 0 when it did not say: a remote
// engine's, not this machine's.
func (e *Engine) CPUs(ctx context.Context) int {
	if n := e.ncpu.Load(); n > 0 {
		return int(n)
	}
	info, err := e.Info(ctx)
	if err != nil {
		return 0
	}
	return info.NCPU
}

// Pull pulls an image from its registry, bounded by ctx.
func (e *Engine) Pull(ctx context.Context, ref string) error {
	resp, err := e.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// StatsStream streams a container's resource samples (about one a second)
// to each until ctx ends or the container stops.
//
// When the engine runs on this host the samples come from the container's
// cgroup files (twice a second, nearly free); otherwise from the stats API.
func (e *Engine) StatsStream(ctx context.Context, id string, each func(Stats)) error {
	if e.local() {
		if c, ok := findCgroup(id); ok {
			pollCgroup(ctx, c, 500*time.Millisecond, each)
			return nil
		}
	}
	if e.costlyDial() {
		return e.pollStats(ctx, id, statsPollEvery, each)
	}
	res, err := e.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() { res.Body.Close() })
	defer stop()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if ctx.Err() != nil || err == io.EOF {
				return nil
			}
			return err
		}
		each(statsOf(&s))
	}
}

// statsPollEvery is how often pollStats samples a container.
const statsPollEvery = 2 * time.Second

// statsPolls is how many one-shot stats calls an engine takes at once:
// every container's sampler polls on the same beat, and each call in
// flight holds a connection (an ssh session) of its own.
const statsPolls = 2

// pollStats samples a container with one-shot stats calls on pooled
// connections, every `every`, where a stream would hold a connection (an
// ssh session) per container for the whole deploy. CPU comes from the
// difference between two samples.
func (e *Engine) pollStats(ctx context.Context, id string, every time.Duration, each func(Stats)) error {
	var prev *container.StatsResponse
	for {
		cur, err := e.oneShotStats(ctx, id)
		if err != nil {
			if ctx.Err() != nil || cerrdefs.IsNotFound(err) {
				return nil
			}
			return err
		}
		if prev != nil {
			cur.PreCPUStats = prev.CPUStats
		}
		s := statsOf(cur)
		if prev == nil {
			s.CPUPercent = 0 // a one-shot sample has no previous one: no rate yet
		}
		each(s)
		prev = cur
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

func (e *Engine) oneShotStats(ctx context.Context, id string) (*container.StatsResponse, error) {
	select {
	case e.statsSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.statsSlots }()
	ctx, cancel := e.callContext(ctx, e.opts.CallTimeout)
	defer cancel()
	res, err := e.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return nil, err
	}
	defer func() {
		// Read to the end, or the connection is not kept for reuse.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
	}()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

func statsOf(s *container.StatsResponse) Stats {
	var out Stats
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	if sysDelta > 0 && cpuDelta > 0 {
		n := float64(s.CPUStats.OnlineCPUs)
		if n == 0 {
			n = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
		}
		if n == 0 {
			n = 1
		}
		out.CPUPercent = cpuDelta / sysDelta * n * 100
	}
	mem := float64(s.MemoryStats.Usage)
	if c, ok := s.MemoryStats.Stats["inactive_file"]; ok && float64(c) < mem {
		mem -= float64(c)
	} else if c, ok := s.MemoryStats.Stats["total_inactive_file"]; ok && float64(c) < mem {
		mem -= float64(c)
	}
	out.MemBytes = mem
	return out
}

// healthFromStatus reads the health from a status like "Up 3 minutes (healthy)".
func healthFromStatus(status string) string {
	switch {
	case strings.Contains(status, "(healthy)"):
		return "healthy"
	case strings.Contains(status, "(unhealthy)"):
		return "unhealthy"
	case strings.Contains(status, "(health: starting)"):
		return "starting"
	}
	return ""
}

// ContainerPidHere reports whether pid, as the engine reported it for
// container id, is that container's process on this host: its
// /proc/<pid>/cgroup names the container. It is false for an engine on
// another host, or in a VM behind a local socket (Docker Desktop, colima),
// whose pids name unrelated processes here, or none.
func (e *Engine) ContainerPidHere(id string, pid int) bool {
	if pid <= 0 || id == "" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && strings.Contains(string(b), id)
}

// local reports whether the engine listens on a unix socket of this host.
func (e *Engine) local() bool {
	return strings.HasPrefix(e.daemonHost, "unix://")
}
