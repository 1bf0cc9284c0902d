//go:build race

package e2e

// raceEnabled: the tests run with -race, so the binary they drive is built
// with it too and a data race in a real process fails its test.
const raceEnabled = true
