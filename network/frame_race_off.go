//go:build !race

package network

// raceEnabled is set in race-detector builds (frame_race_on.go).
const raceEnabled = false
