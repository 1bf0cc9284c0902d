// Command roomctl is a headless real-time-communication client that prints
// every SDK callback as one JSON line on stdout.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/roomctl/roomctl/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, os.Args[1:], cmd.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
