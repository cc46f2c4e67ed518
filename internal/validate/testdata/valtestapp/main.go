// Command valtestapp is the tiny program of the validate tests' image
// (FROM scratch): an HTTP server, a probe for its healthcheck, or a job.
//
//	/app                      serve 200 on -listen (default :8080)
//	/app -probe URL           GET URL, exit 0 on 200, else 1
//	/app -exit N [-delay D]   wait D, exit N (a one-shot job)
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	probe := flag.String("probe", "", "GET this URL and exit 0 on 200")
	exit := flag.Int("exit", -1, "exit with this code after -delay (job mode)")
	delay := flag.Duration("delay", 0, "wait before exiting (job mode) or serving")
	flag.Parse()

	if *probe != "" {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(*probe)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Println(resp.Status)
			os.Exit(1)
		}
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *delay > 0 {
		select {
		case <-time.After(*delay):
		case <-ctx.Done():
			os.Exit(0)
		}
	}
	if *exit >= 0 {
		os.Exit(*exit)
	}
	srv := &http.Server{Addr: *listen, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
