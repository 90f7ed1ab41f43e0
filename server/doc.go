// Package server is zoomdiff's HTTP front end: upscaling and generation as
// a JSON/PNG API, a web page that drives it, and Prometheus metrics. The
// command `zoomdiff serve` runs it.
//
// Methods come from package methods' table, so every method the command
// line knows (the kernels, the model and its real-photo weights, the
// baselines) is served with no change here. Work is CPU-bound and
// large, so the server admits a bounded number of requests (Workers running
// plus Queue waiting), answers 429 beyond that instead of piling up memory,
// and bounds each request by a deadline, its client's connection and the
// server's own shutdown.
//
// # Endpoints
//
//	POST   /v1/upscale              upscale one image (below)
//	POST   /v1/generate             generate images (below); 501 without a Generator
//	GET    /v1/jobs/{id}            an async job's state, stage, progress and result links
//	GET    /v1/jobs/{id}/events     the same as Server-Sent Events ("job" events) until the job ends
//	GET    /v1/jobs/{id}/images/{i} a finished job's i-th PNG
//	DELETE /v1/jobs/{id}            cancel a job and forget it (204)
//	GET    /v1/models               methods with summary, card and availability; generator; limits
//	GET    /healthz                 {"status": "ok", ...}; 503 while shutting down
//	GET    /metrics                 Prometheus text format
//	GET    /                        the web page (embedded; plain HTML/CSS/JS)
//
// # POST /v1/upscale
//
// A multipart/form-data body with the image as a file field named "image"
// (PNG, JPEG, WebP, BMP, TIFF or still GIF). The other fields may come from the form or the
// query string:
//
//	scale    factor, MinScale…MaxScale (default 0.1…16); output ceil(W·s)×ceil(H·s)
//	size     WxH, Wx or xH (a missing side keeps the aspect ratio); exactly one of scale and size
//	method   a method of the table (default "model" if it loads, else "bicubic")
//	samples  1…MaxSamples (default 1); sample i uses seed+i; more than 1 only
//	         for a generative method (/v1/models says which)
//	seed     0…2⁶⁴−1; without one a random seed is drawn and reported
//	steps    1…MaxSteps, passed to the method as the param steps
//	param    name=value, repeatable: any other method setting (e.g. param=eta=0.5);
//	         param=steps is held to MaxSteps too, and param=tile (the sampling window) to MaxTile
//	async    1/true: answer 202 with a job (Location: /v1/jobs/{id}) instead of the image
//	format   png (one image, the default for one sample) or json (the default for more)
//
// Each output is at most MaxOutputPixels, or MaxStreamedPixels for a
// method that renders band by band (render.Streamer: the model): its
// latents are sampled first and its rows decoded only as the PNG is
// written, so an 8192×8192 answer costs memory for a band, not the image.
// Every front end renders through package render, so the server, the CLI
// and eval give the same pixels (alpha, grey and ICC profile included).
//
// A synchronous answer with one image is the PNG itself (image/png,
// streamed row by row), with X-Zoomdiff-Method, X-Zoomdiff-Size (WxH) and
// X-Zoomdiff-Seed headers, and X-Zoomdiff-Note when methods.Note has
// something to say about the input (a coarse JPEG given to the benchmark
// model: method real serves it better). With format=json, and always with
// samples > 1, the answer is JSON with the PNGs in base64 (and "note"
// where there is one, as in the job's view):
//
//	{"method": "model", "width": 512, "height": 384,
//	 "images": [{"seed": 7, "png": "iVBORw0…"}, {"seed": 8, "png": "…"}]}
//
// A streamed PNG that fails after its first bytes went out (the method
// errs, the deadline passes) is cut off, the connection closed before the
// body's end, so that clients see a broken transfer, never a whole-looking
// 200; one that fails before answers with the error.
//
// Base64 JSON rather than a zip or multipart answer because browsers and
// every HTTP client read it without extra code; for large or many samples
// use async=1 and fetch each PNG from its job link.
//
// # POST /v1/generate
//
// Fields n (1…MaxGenerate, default 1), size (WxH or N for a square, default 512x512, within
// MaxOutputPixels), seed, async and format, as a form, multipart, JSON
// object ({"n": 2, "size": "512x512", "seed": 7}) or query string. The
// answers are those of /v1/upscale.
//
// # Errors and limits
//
// Every error is JSON, {"error": "what to change"}, with:
//
//	400  malformed or out-of-range fields, unknown or repeated fields, truncated uploads,
//	     undecodable images, outputs over MaxOutputPixels (MaxStreamedPixels), a method that rejects its settings
//	404  unknown job or API path; 405 wrong HTTP method (with Allow)
//	409  a job's image asked for before the job is done
//	413  body over MaxUploadBytes; image header over MaxInputPixels (checked before decoding)
//	415  a content type other than multipart/form-data (or, for generate, form or JSON);
//	     an upload that is not a PNG, JPEG, WebP, BMP, TIFF or GIF
//	429  Workers+Queue requests already admitted, MaxUploads uploads being read, or all job places hold unfinished jobs;
//	     with Retry-After
//	501  /v1/generate without a Generator
//	503  the request outlived Timeout (queueing included), or the server is shutting down;
//	     with Retry-After
//	500  a method failed or panicked (a bug; logged)
//
// A client that disconnects cancels its request's work (the method sees
// its context end). Async jobs are not tied to the connection: they run
// until done, Timeout, DELETE, or the end of shutdown. A running job's
// view says its stage, where the method tells: "condition" (the model
// computes its condition from the input), "sampling", then "encoding"
// (its images are rendered, the model decoding them now, and compressed).
// Its progress, from 0 to 1, gives each sample an equal share, the
// model's condition a tenth of it and its sampling the rest; it reaches 1
// as the encoding starts, which it does not measure. Finished jobs are
// kept JobTTL (default 10 min) and at most MaxJobs of them (the oldest
// finished goes first), holding at most MaxJobBytes of PNGs.
//
// # Methods with weights, settings and progress
//
// A learned method should implement [ParamUpscaler], so that its weights
// load once and each request gets a cheap configured copy, and may
// implement [ProgressReporter] (progress for jobs and the page) and
// [Carder] (its model card for /v1/models). Without them the server still
// works: it calls the evaluate factory per sample with the request's params.
package server
