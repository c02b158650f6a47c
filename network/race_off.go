//go:build !race

package network

// raceEnabled is set in race-detector builds (race_on.go).
const raceEnabled = false
