// Mesa prints warnings without a runtime dir.
export default function setup(): void {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
}
