// Restate's Node SDK 1.17 calls Promise.withResolvers, which Node 20 lacks: without it every invocation throws
// inside the SDK and Restate retries it forever. Loaded with `node --import ./polyfill.mjs service.mjs`.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
