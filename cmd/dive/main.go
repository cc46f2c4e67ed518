// Command dive deploys docker-compose stacks (the DIVE V3 hub) straight
// through the Docker Engine API.
package main

import (
	"os"

	"github.com/dive-hub/dive/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
