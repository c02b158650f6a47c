//go:build race

package network

// raceEnabled is set in race-detector builds, where released frame
// buffers are poisoned (releaseFrame) so that tests catch a frame handed
// back while something still reads it.
const raceEnabled = true
