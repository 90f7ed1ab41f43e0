package main

// runReconstruct is `zoomdiff reconstruct`: the auto-encoder's round trip
// at any output size, which is `zoomdiff upscale --method reconstruct`
// (the same flags, the one render path: streamed PNG, alpha, grey, JPEG
// and 16-bit outputs, folders).
func runReconstruct(args []string) error {
	return runUpscale(append([]string{"--method", "reconstruct"}, args...))
}
