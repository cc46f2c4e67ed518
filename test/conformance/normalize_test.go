package conformance

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// object is one engine object's inspect output, normalized and flattened
// to "path = value" pairs.
type object struct {
	kind   string // container, network, volume, file
	name   string // normalized name
	fields map[string]string
}

// normalizer rewrites what must differ between the two deploys: the project
// names and the IDs the engine assigns.
type normalizer struct {
	project string
	ids     map[string]string // full ID -> stable name
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

func (n *normalizer) str(s string) string {
	s = strings.ReplaceAll(s, n.project, "<P>")
	for id, name := range n.ids {
		s = strings.ReplaceAll(s, id, name)
		s = strings.ReplaceAll(s, id[:12], name)
	}
	return hex64.ReplaceAllString(s, "<hex>")
}

// drop lists the inspect fields that are the engine's run-time facts, not
// configuration: they differ between any two deploys (addresses, times, IDs
// of sandboxes and endpoints, counters).
var drop = map[string][]string{
	"container": {"Id", "Created", "State", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
		"AppArmorProfile", "ExecIDs", "GraphDriver", "SizeRw", "SizeRootFs", "Image",
		// files the engine writes at the first start (paths made of the ID)
		"HostnamePath", "HostsPath", "ResolvConfPath", "LogPath",
		"NetworkSettings.Bridge", "NetworkSettings.SandboxID", "NetworkSettings.HairpinMode",
		"NetworkSettings.LinkLocalIPv6Address", "NetworkSettings.LinkLocalIPv6PrefixLen", "NetworkSettings.Ports",
		"NetworkSettings.SandboxKey", "NetworkSettings.SecondaryIPAddresses", "NetworkSettings.SecondaryIPv6Addresses",
		"NetworkSettings.EndpointID", "NetworkSettings.Gateway", "NetworkSettings.GlobalIPv6Address",
		"NetworkSettings.GlobalIPv6PrefixLen", "NetworkSettings.IPAddress", "NetworkSettings.IPPrefixLen",
		"NetworkSettings.IPv6Gateway", "NetworkSettings.MacAddress"},
	"endpoint": {"NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
		"GlobalIPv6PrefixLen", "MacAddress", "DNSNames"},
	"network": {"Id", "Created", "Containers"},
	"volume":  {"CreatedAt"},
}

// normalize turns one inspect document into an object.
func (n *normalizer) normalize(kind string, doc map[string]any, autoIPAM bool) object {
	for _, k := range drop[kind] {
		deletePath(doc, k)
	}
	switch kind {
	case "container":
		if ns, ok := doc["NetworkSettings"].(map[string]any); ok {
			if nets, ok := ns["Networks"].(map[string]any); ok {
				for _, ep := range nets {
					if m, ok := ep.(map[string]any); ok {
						for _, k := range drop["endpoint"] {
							delete(m, k)
						}
						sortList(m, "Links")
					}
				}
			}
		}
		// lists compose builds from Go maps (random order)
		sortList(doc, "Config.Env")
		sortList(doc, "HostConfig.ExtraHosts")
		sortList(doc, "HostConfig.Links")
		sortObjects(doc, "HostConfig.Ulimits", "Name")
		sortList(doc, "HostConfig.Binds")
		sortObjects(doc, "HostConfig.Mounts", "Target")
		sortObjects(doc, "Mounts", "Destination")
		if cfg, ok := doc["Config"].(map[string]any); ok {
			if l, ok := cfg["Labels"].(map[string]any); ok {
				normalizeLabels(l)
			}
		}
	case "network":
		if autoIPAM {
			// subnets the engine picked: different for any two networks
			deletePath(doc, "IPAM.Config")
		}
		if l, ok := doc["Labels"].(map[string]any); ok {
			normalizeLabels(l)
		}
	case "volume":
		if l, ok := doc["Labels"].(map[string]any); ok {
			normalizeLabels(l)
		}
	}
	name, _ := doc["Name"].(string)
	o := object{kind: kind, name: n.str(strings.TrimPrefix(name, "/")), fields: map[string]string{}}
	// map keys hold names too (the networks of a container)
	flatten("", doc, func(path, v string) { o.fields[n.str(path)] = n.str(v) })
	return o
}

// normalizeLabels hides the values that are hashes (compared for presence)
// and orders the depends_on label, which compose writes in map order.
func normalizeLabels(l map[string]any) {
	if _, ok := l["com.docker.compose.config-hash"]; ok {
		l["com.docker.compose.config-hash"] = "<hash>"
	}
	if v, ok := l["com.docker.compose.depends_on"].(string); ok && v != "" {
		parts := strings.Split(v, ",")
		sort.Strings(parts)
		l["com.docker.compose.depends_on"] = strings.Join(parts, ",")
	}
}

func deletePath(doc map[string]any, path string) {
	keys := strings.Split(path, ".")
	m := doc
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, keys[len(keys)-1])
}

func getPath(doc map[string]any, path string) (map[string]any, string) {
	keys := strings.Split(path, ".")
	m := doc
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, ""
		}
		m = next
	}
	return m, keys[len(keys)-1]
}

func sortList(doc map[string]any, path string) {
	m, k := getPath(doc, path)
	if m == nil {
		return
	}
	list, ok := m[k].([]any)
	if !ok {
		return
	}
	sort.Slice(list, func(i, j int) bool { return fmt.Sprint(list[i]) < fmt.Sprint(list[j]) })
}

func sortObjects(doc map[string]any, path, key string) {
	m, k := getPath(doc, path)
	if m == nil {
		return
	}
	list, ok := m[k].([]any)
	if !ok {
		return
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, _ := list[i].(map[string]any)
		b, _ := list[j].(map[string]any)
		return fmt.Sprint(a[key]) < fmt.Sprint(b[key])
	})
}

// flatten walks a JSON document; an empty list, an empty object and null
// all flatten to nothing, as the engine writes them interchangeably.
func flatten(prefix string, v any, emit func(path, value string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, emit)
		}
	case []any:
		for i, x := range t {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), x, emit)
		}
	case nil:
	case string:
		if t != "" {
			emit(prefix, t)
		}
	case bool:
		if t {
			emit(prefix, "true")
		}
	case float64:
		if t != 0 {
			emit(prefix, fmt.Sprint(t))
		}
	default:
		b, _ := json.Marshal(t)
		emit(prefix, string(b))
	}
}
