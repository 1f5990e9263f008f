-- wrk: POST /orders (seed 003's `ab -m POST`), every id committed before
-- its answer.
wrk.method = "POST"
wrk.path = "/orders"
