package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hookRegistry remembers the post_start hooks of the containers this
// engine created, so that Start runs them.
type hookRegistry struct {
	mu    sync.Mutex
	hooks map[string]hookSet
}

type hookSet struct {
	service string
	tty     bool
	post    []types.ServiceHook
}

func (h *hookRegistry) set(id string, s *ContainerSpec) {
	if len(s.PostStart) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hooks == nil {
		h.hooks = map[string]hookSet{}
	}
	h.hooks[id] = hookSet{service: s.Service, tty: s.Tty, post: s.PostStart}
}

func (h *hookRegistry) get(id string) (hookSet, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hs, ok := h.hooks[id]
	return hs, ok
}

// HookError is a lifecycle hook that failed: its command, exit code and output.
type HookError struct {
	Hook     string // post_start or pre_stop
	Service  string
	Command  []string
	ExitCode int
	Output   string
}

func (e *HookError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("%s hook %q of service %s exited with status %d; its output: %s", e.Hook, strings.Join(e.Command, " "), e.Service, e.ExitCode, out)
}

// RunHooks runs lifecycle hooks (post_start, pre_stop) in a container, one
// after the other, as docker compose's runHook does: an exec with the hook's
// user, privileged flag, working_dir and environment. The first hook that
// exits non-zero stops the sequence with a *HookError.
func (e *Engine) RunHooks(ctx context.Context, id, kind, service string, tty bool, hooks []types.ServiceHook) error {
	for _, h := range hooks {
		if err := e.runHook(ctx, id, kind, service, tty, h); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) runHook(ctx context.Context, id, kind, service string, tty bool, h types.ServiceHook) error {
	env := make([]string, 0, len(h.Environment))
	for k, v := range h.Environment {
		if v == nil {
			env = append(env, k)
		} else {
			env = append(env, k+"="+*v)
		}
	}
	sort.Strings(env)
	cr, err := do(ctx, e, kind+" hook create", func(ctx context.Context) (client.ExecCreateResult, error) {
		return e.cli.ExecCreate(ctx, id, client.ExecCreateOptions{User: h.User, Privileged: h.Privileged, Env: env,
			WorkingDir: h.WorkingDir, Cmd: h.Command, TTY: tty, AttachStdout: true, AttachStderr: true})
	})
	if err != nil {
		return fmt.Errorf("%s hook of service %s: %w", kind, service, err)
	}
	att, err := e.cli.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{TTY: tty})
	if err != nil {
		return fmt.Errorf("%s hook of service %s: attach: %w", kind, service, err)
	}
	var buf limitedBuffer
	buf.max = 4096
	if tty {
		_, err = io.Copy(&buf, att.Reader)
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, att.Reader)
	}
	att.Close()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s hook of service %s: %w", kind, service, ctx.Err())
	}
	ins, err := do(ctx, e, kind+" hook inspect", func(ctx context.Context) (client.ExecInspectResult, error) {
		return e.cli.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
	})
	if err != nil {
		return fmt.Errorf("%s hook of service %s: %w", kind, service, err)
	}
	if ins.ExitCode != 0 {
		return &HookError{Hook: kind, Service: service, Command: h.Command, ExitCode: ins.ExitCode, Output: buf.String()}
	}
	return nil
}

// resolveRefs returns the host config with references to other services
// resolved the way docker compose resolves them when it creates a
// container: ipc/pid "service:NAME" and volumes_from "NAME" become the
// first container of NAME, links become "<container>:<alias>" entries. It
// waits (bounded by ctx) for a referenced service's container to exist:
// dive creates containers in parallel, the dependency's may still be on
// its way.
func (e *Engine) resolveRefs(ctx context.Context, s *ContainerSpec) (*container.HostConfig, []string, error) {
	h := *s.Host
	project := s.Config.Labels[LabelProject]
	needs := len(s.serviceLinks) > 0 || serviceRef(string(h.IpcMode)) != "" || serviceRef(string(h.PidMode)) != ""
	for _, v := range h.VolumesFrom {
		if !strings.HasPrefix(v, types.ContainerPrefix) {
			needs = true
		}
	}
	var links []string
	if !needs {
		return &h, externalLinks(s.externalLinks), nil
	}
	first := func(service string) (string, error) {
		cs, err := e.serviceContainers(ctx, project, service)
		if err != nil {
			return "", err
		}
		return cs[0].ID, nil
	}
	var err error
	for _, m := range []*string{(*string)(&h.IpcMode), (*string)(&h.PidMode)} {
		if name := serviceRef(*m); name != "" {
			id, ferr := first(name)
			if ferr != nil {
				return nil, nil, ferr
			}
			*m = types.ContainerPrefix + id
		}
	}
	h.VolumesFrom = make([]string, len(s.Host.VolumesFrom))
	for i, v := range s.Host.VolumesFrom {
		// compose keeps only the container (the :ro/:rw suffix is dropped)
		parts := strings.Split(v, ":")
		if parts[0] == "container" && len(parts) > 1 {
			h.VolumesFrom[i] = parts[1]
			continue
		}
		if h.VolumesFrom[i], err = first(parts[0]); err != nil {
			return nil, nil, err
		}
	}
	for _, l := range s.serviceLinks {
		svc, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = svc
		}
		cs, err := e.serviceContainers(ctx, project, svc)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range cs {
			n := strconv.Itoa(s.Number)
			links = append(links, c.Name+":"+alias, c.Name+":"+svc+"-"+n, c.Name+":"+project+"-"+svc+"-"+n)
		}
	}
	links = append(links, externalLinks(s.externalLinks)...)
	return &h, links, nil
}

func externalLinks(ext []string) []string {
	var out []string
	for _, l := range ext {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		out = append(out, name+":"+alias)
	}
	return out
}

// serviceContainers lists a service's (not one-off) containers by number,
// waiting until there is at least one.
func (e *Engine) serviceContainers(ctx context.Context, project, service string) ([]Container, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		all, err := e.ListContainers(ctx, project)
		if err != nil {
			return nil, err
		}
		var out []Container
		for _, c := range all {
			if c.Service == service && c.Labels[LabelOneOff] != "True" {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			sort.SliceStable(out, func(i, j int) bool {
				a, _ := strconv.Atoi(out[i].Labels[LabelNumber])
				b, _ := strconv.Atoi(out[j].Labels[LabelNumber])
				return a < b
			})
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("service %s has no container to refer to (links, volumes_from, ipc or pid service:%s): %w", service, service, ctx.Err())
		case <-tick.C:
		}
	}
}

// platformOf parses a compose platform (os/arch[/variant]).
func platformOf(p string) *ocispec.Platform {
	if p == "" {
		return nil
	}
	parts := strings.SplitN(p, "/", 3)
	pl := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		pl.Architecture = parts[1]
	}
	if len(parts) > 2 {
		pl.Variant = parts[2]
	}
	return pl
}

// copyFiles copies secrets and configs with inline content into a created
// container, as compose's injectSecrets/injectConfigs do before a start.
func (e *Engine) copyFiles(ctx context.Context, id string, files []FileCopy) error {
	for _, f := range files {
		b, err := fileTar(f)
		if err != nil {
			return fmt.Errorf("%s %s: %w", f.Kind, f.Name, err)
		}
		_, err = do(ctx, e, "copy "+f.Kind+" "+f.Name, func(ctx context.Context) (client.CopyToContainerResult, error) {
			return e.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: bytes.NewReader(b),
				CopyUIDGID: f.UID != "" || f.GID != ""})
		})
		if err != nil {
			return fmt.Errorf("copy %s %s to %s: %w", f.Kind, f.Name, f.Target, err)
		}
	}
	return nil
}

func fileTar(f FileCopy) ([]byte, error) {
	mode := int64(0o444)
	if f.Mode != nil {
		mode = int64(*f.Mode)
	}
	var uid, gid int
	var err error
	if f.UID != "" {
		if uid, err = strconv.Atoi(f.UID); err != nil {
			return nil, fmt.Errorf("uid %q is not a number", f.UID)
		}
	}
	if f.GID != "" {
		if gid, err = strconv.Atoi(f.GID); err != nil {
			return nil, fmt.Errorf("gid %q is not a number", f.GID)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: f.Target, Size: int64(len(f.Content)), Mode: mode, ModTime: time.Now(), Uid: uid, Gid: gid}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(f.Content)); err != nil {
		return nil, err
	}
	return buf.Bytes(), tw.Close()
}

// createRaw creates a container with what the moby client's Config type
// cannot carry: Config.MacAddress, which API < 1.44 takes in the container
// config but the type no longer has, and exposed port ranges ("5000-5002",
// as compose sends expose: ranges) its typed ports cannot hold. The one
// create dive sends itself, through the client's own connection to the
// daemon.
func (e *Engine) createRaw(ctx context.Context, name, mac string, exposed []string, req container.CreateRequest, platform *ocispec.Platform) (string, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	// the container config is inlined in the create request's body
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", err
	}
	if mac != "" {
		body["MacAddress"] = mac
	}
	if len(exposed) > 0 {
		ports, _ := body["ExposedPorts"].(map[string]any)
		if ports == nil {
			ports = map[string]any{}
		}
		for _, p := range exposed {
			ports[p] = struct{}{}
		}
		body["ExposedPorts"] = ports
	}
	if raw, err = json.Marshal(body); err != nil {
		return "", err
	}
	q := url.Values{"name": {name}}
	if platform != nil {
		q.Set("platform", strings.TrimSuffix(platform.OS+"/"+platform.Architecture+"/"+platform.Variant, "/"))
	}
	status, b, err := e.rawCall(ctx, http.MethodPost, "/containers/create", q, raw)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", rawError(status, b)
	}
	var out struct {
		ID string `json:"Id"`
	}
	_ = json.Unmarshal(b, &out)
	return out.ID, nil
}

// rawCall sends one request dive builds itself, through the client's own
// connection to the daemon: the answer's status and body (up to 16 MiB).
func (e *Engine) rawCall(ctx context.Context, method, path string, q url.Values, body []byte) (int, []byte, error) {
	dial := e.cli.Dialer()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := "http://docker/v" + e.apiVersion + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

// rawError is the error of a raw call's failed answer, in the errdefs
// classes the client's own calls give.
func rawError(status int, body []byte) error {
	var out struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &out)
	switch status {
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", cerrdefs.ErrConflict, out.Message)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", cerrdefs.ErrNotFound, out.Message)
	case http.StatusBadRequest:
		return fmt.Errorf("%w: %s", cerrdefs.ErrInvalidArgument, out.Message)
	}
	return fmt.Errorf("Error response from daemon: %s (HTTP %d)", out.Message, status)
}

// inspectRanges inspects a container whose port maps have a range key
// ("5000-5002", as compose and dive create expose: ranges), which the
// client's typed ports refuse to decode: the raw answer, each range key
// expanded into its ports.
func (e *Engine) inspectRanges(ctx context.Context, id string) (container.InspectResponse, error) {
	var res container.InspectResponse
	status, b, err := e.rawCall(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, nil)
	if err != nil {
		return res, err
	}
	if status != http.StatusOK {
		return res, rawError(status, b)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return res, err
	}
	for _, path := range [][2]string{{"Config", "ExposedPorts"}, {"HostConfig", "PortBindings"}, {"NetworkSettings", "Ports"}} {
		outer, _ := doc[path[0]].(map[string]any)
		ports, _ := outer[path[1]].(map[string]any)
		for k, v := range ports {
			if !strings.Contains(k, "-") {
				continue
			}
			delete(ports, k)
			pr, err := network.ParsePortRange(k)
			if err != nil {
				continue
			}
			for p := range pr.All() {
				if _, ok := ports[p.String()]; !ok {
					ports[p.String()] = v
				}
			}
		}
	}
	if b, err = json.Marshal(doc); err != nil {
		return res, err
	}
	return res, json.Unmarshal(b, &res)
}

// endpointMAC puts the MAC address on the first endpoint (API >= 1.44).
func endpointMAC(ep *network.EndpointSettings, mac string) (*network.EndpointSettings, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("mac_address %q: %w", mac, err)
	}
	c := *ep
	c.MacAddress = network.HardwareAddr(hw)
	return &c, nil
}

func platformList(p string) []ocispec.Platform {
	if pl := platformOf(p); pl != nil {
		return []ocispec.Platform{*pl}
	}
	return nil
}
