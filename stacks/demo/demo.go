// Package demo embeds the demo hub: the DIVE hub's compose file with every
// service played by the dive stand-in (`dive standin`), and its env file of
// demo-only dummy secrets. `dive hub deploy --demo` materializes both into a
// directory and deploys them like any other stack, with DIVE_STANDIN_IMAGE
// set to the stand-in image (see internal/standin.EnsureImage).
package demo

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The embedded files' names, as Materialize writes them.
const (
	ComposeFile = "docker-compose.hub.yml"
	EnvFile     = ".env.hub"
)

//go:embed docker-compose.hub.yml .env.hub
var files embed.FS

// Files returns the embedded files by name, each a fresh copy.
func Files() map[string][]byte {
	out := make(map[string][]byte, 2)
	for _, name := range []string{ComposeFile, EnvFile} {
		b, err := files.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("demo: embedded %s missing: %v", name, err)) // impossible: go:embed checked it at build time
		}
		out[name] = b
	}
	return out
}

// Materialize writes the compose file and the env file into dir (created 0700
// if missing) and returns their absolute paths. A file whose content is
// already right is left alone, so repeated deploys do not touch it; the env
// file, holding secrets, is kept at mode 0600.
func Materialize(dir string) (composePath, envPath string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	content := Files()
	composePath = filepath.Join(dir, ComposeFile)
	envPath = filepath.Join(dir, EnvFile)
	if err := writeIfChanged(composePath, content[ComposeFile], 0o644); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	if err := writeIfChanged(envPath, content[EnvFile], 0o600); err != nil {
		return "", "", fmt.Errorf("demo: %w", err)
	}
	return composePath, envPath, nil
}

// writeIfChanged writes data to path through a temporary file and a rename,
// so a concurrent reader never sees half a file, unless path already holds
// data. It also narrows a wider mode back to perm.
func writeIfChanged(path string, data []byte, perm os.FileMode) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, data):
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&^perm != 0 {
			return os.Chmod(path, perm)
		}
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
