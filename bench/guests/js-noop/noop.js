// The no-op step in JavaScript, doing what tests/components/noop does: parse the JSON input so that it really
// crosses the boundary, ignore it and answer {"ok":true}.
export function run(ctx, input) {
  JSON.parse(input);
  return '{"ok":true}';
}
