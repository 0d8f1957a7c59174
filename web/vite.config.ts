/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// `npm run dev` serves the dashboard alone; the query API it talks to runs elsewhere
// (`hr api`, port 8000 by default) and is reached through this proxy, so the browser sees one origin
// as it does when the API serves web/dist under /app/.
const apiUrl = process.env.HR_DASHBOARD_API_URL ?? 'http://127.0.0.1:8000'
const apiPaths = ['/health', '/limits', '/users', '/timeseries', '/multi-user', '/summary', '/study']

export default defineConfig({
  base: '/app/',
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(apiPaths.map((path) => [path, apiUrl])),
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
