package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expose: ranges reach the engine as compose sends them, "5000-5002" as an
// ExposedPorts key, beside the typed ports.
func TestCreateRawExposedRange(t *testing.T) {
	st := loadConvert(t, "name: ex\nservices:\n  a:\n    image: x\n    expose: [\"5000-5002\", \"6000-6001/udp\", \"7000\"]\n")
	sp, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project, APIVersion: "1.41"})
	require.NoError(t, err)
	assert.Equal(t, []string{"5000-5002", "6000-6001/udp"}, sp.rawExposed)

	sock := filepath.Join(t.TempDir(), "docker.sock")
	bodies := make(chan []byte, 1)
	stop := fakeDaemon(t, sock, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/containers/create") {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"Id":"abc"}`))
	})
	defer stop()
	e, err := New(context.Background(), Options{Client: []client.Opt{client.WithHost("unix://" + sock)}})
	require.NoError(t, err)
	defer e.Close()

	id, err := e.createRaw(context.Background(), sp.Name, "", sp.rawExposed, container.CreateRequest{Config: sp.Config, HostConfig: sp.Host}, nil)
	require.NoError(t, err)
	assert.Equal(t, "abc", id)
	var body struct {
		ExposedPorts map[string]struct{}
		MacAddress   *string
	}
	require.NoError(t, json.Unmarshal(<-bodies, &body))
	assert.Equal(t, map[string]struct{}{"5000-5002": {}, "6000-6001/udp": {}, "7000/tcp": {}}, body.ExposedPorts)
	assert.Nil(t, body.MacAddress, "no MAC address: none sent")
}

// A container with a range key in its port maps (compose and dive create
// them for expose: ranges) inspects: the typed client cannot decode the key,
// Inspect expands it into its ports.
func TestInspectExposedRange(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	stop := fakeDaemon(t, sock, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/containers/c1/json") {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"Id":"c1","Name":"/x","Config":{"Image":"x","ExposedPorts":{"5000-5002":{},"7000/tcp":{}}},` +
			`"HostConfig":{"PortBindings":{}},"NetworkSettings":{"Ports":{"5000-5002/tcp":null,"7000/tcp":null}}}`))
	})
	defer stop()
	e, err := New(context.Background(), Options{Client: []client.Opt{client.WithHost("unix://" + sock)}})
	require.NoError(t, err)
	defer e.Close()

	ins, err := e.Inspect(context.Background(), "c1")
	require.NoError(t, err)
	assert.Equal(t, "c1", ins.ID)
	var got []string
	for p := range ins.Config.ExposedPorts {
		got = append(got, p.String())
	}
	assert.ElementsMatch(t, []string{"5000/tcp", "5001/tcp", "5002/tcp", "7000/tcp"}, got)
	assert.Len(t, ins.NetworkSettings.Ports, 4)
}
