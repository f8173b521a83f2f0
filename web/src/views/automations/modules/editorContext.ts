/**
 * What every part of the automation editor needs from the page, provided once by
 * `AutomationEditor.vue`: the group's devices and scenes for the selects, and the
 * field the hub last refused (each item shows it when it is its own).
 */
import type { SelectOption } from 'naive-ui'
import { inject, provide, type ComputedRef, type InjectionKey, type Ref } from 'vue'

export interface EditorContext {
  deviceOptions: ComputedRef<SelectOption[]>
  sceneOptions: ComputedRef<SelectOption[]>
  /** The hub's refusal: `{field: "triggers[0].metric", message}`. */
  fieldError: Ref<{ field: string; message: string } | null>
  readOnly: ComputedRef<boolean>
  /** The stored automation's id (`null` while it is new): its webhook URL needs one. */
  automationId?: ComputedRef<string | null>
  /** JSON fields whose text does not parse (by name): the editor does not save while any does. */
  invalidJson: Set<string>
}

const KEY: InjectionKey<EditorContext> = Symbol('automation-editor')

export const provideEditor = (context: EditorContext) => provide(KEY, context)

export function useEditor(): EditorContext {
  const context = inject(KEY)
  if (!context) throw new Error('automation editor parts must be inside AutomationEditor')
  return context
}

/** `'error'` for the form item named `key` of the item at `path` when the hub refused it. */
export function useFieldStatus(path: () => string) {
  const { fieldError } = useEditor()
  return (key: string): 'error' | undefined => {
    const field = fieldError.value?.field
    return field && field === `${path()}.${key}` ? 'error' : undefined
  }
}
