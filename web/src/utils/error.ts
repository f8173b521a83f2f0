/** The text to show for a failed call: the API's `{"error": {message, field}}`, else the error's message. */
import { ApiError } from '@/api/http'

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.field ? `${error.field}: ${error.message}` : error.message
  return (error as Error)?.message ?? String(error)
}
