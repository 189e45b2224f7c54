//go:build race

package indexsim

// raceEnabled lets timing assertions allow for the race detector's slowdown.
const raceEnabled = true
