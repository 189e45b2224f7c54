//go:build !race

package indexsim

const raceEnabled = false
